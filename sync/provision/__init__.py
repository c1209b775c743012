"""The provisioning wing: the cohort's category, its three module courses copied from the template courses,
their sections, the service account's enrolment and the schedule's calendar events.

Three steps, in the shared plan/apply vocabulary (sync/core/plan.py): ``site`` (read_site: what the site
holds, read before planning), ``plan`` (plan_provision: a pure function of the configuration, the templates
and that read), ``apply`` (the only code that writes, one handler per kind of change). ``changes`` (the typed
changes, warnings and the plan), ``templates`` (the check of the template courses on the site against their
files), ``render`` (the plan and checks as people read them: a headline, table rows, titled lists; the
command prints them).
"""
