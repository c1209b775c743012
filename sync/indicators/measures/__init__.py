"""The indicator functions: each reads a snapshot through a ``Context`` and returns a ``Measurement`` (value,
evidence, notes, breakdown); ``sync.indicators.registry`` names, titles and orders them.

- ``people``: participants, school participants, initiative groups (enrolments and groups);
- ``work``: projects developed, mentor feedback, projects presented, leader projects (submissions, grades);
- ``events``: webinars and consultations held (the calendar);
- ``answers``: funds raised, votes cast, satisfaction, NGO intent (the database, the vote, the survey).
"""
