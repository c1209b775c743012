"""The indicators wing: gather the cohort from Moodle into a dated snapshot, compute the grant indicators from
it (pure), list the work waiting for a review, and write the reports.

``gather`` (batch reads) -> ``snapshot`` (plain data, stored) -> ``compute`` (the indicators and breakdowns)
-> ``report/`` (JSON, text, XLSX, HTML); ``pending`` lists what waits for a mentor.

- ``registry``: one definition per indicator (key, title, unit, module, how it reads, its function);
- ``measures/``: the indicator functions, by the data they read (people, work, events, answers);
- ``context``: a snapshot's indexes for one period, Moodle links, who answers for a team's work;
- ``breakdowns``: the rows per team, mentor, district and village;
- ``models``: the results, evidence, rows and the report they make; ``program``: the program's activities;
  ``parsing``: what people typed into Moodle (comments, amounts, scores, villages); ``wording``: titles and
  statuses defined at import time, read in the current language.

What people read is written in English in the code and said in the language of the run (:mod:`i18n`: Russian
by default); a snapshot stores its notes as what to say, so it reads in any language.
"""
