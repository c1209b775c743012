"""The provisioning wing: the cohort's category, its three module courses copied from the template courses,
their sections, the service account's enrolment and the schedule's calendar events.

``plan`` (what must change, from the site), ``apply`` (the only code that writes), ``templates`` (the check
of the template courses on the site against their files), ``render`` (the plan and checks as text).
"""
