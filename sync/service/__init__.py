"""The service wing (`accel serve`): runs the other wings' work on the [service] timetable.

``timetable`` (when each job is due), ``runner`` (runs due jobs, remembers how they went, backs off),
``jobs`` (the roster sync, snapshot, reminders and report jobs, built on the wings' functions),
``reminders`` (the mentors' messages). It is the one wing that may import the others.
"""
