"""The roster wing: keep Moodle's users, enrolments, teams (groups) and districts (groupings) in step with the
coordinator's roster file.

    read/ (the file)  ->  sync.read_site (batch reads)  ->  plan.build_plan (pure)  ->  sync.check_guards
    ->  apply.Applier (the only code that writes)  ->  journal (the store)

``names`` makes usernames and ID-number slugs. A wing imports the wire and the shared core, never another wing.
"""
