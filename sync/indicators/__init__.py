"""The indicators wing: gather the cohort from Moodle into a dated snapshot, compute the grant indicators from
it (pure), list the work waiting for a review, and write the reports.

``gather`` (batch reads) -> ``snapshot`` (plain data, stored) -> ``compute`` (the indicators and breakdowns)
-> ``report/`` (JSON, text, XLSX, HTML); ``pending`` lists what waits for a mentor.
"""
