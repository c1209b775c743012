"""The indicators' reports: ``model`` (what every report shows), the writers ``json``, ``text``, ``xlsx`` and
``html`` (each imports the model), and ``write`` (a report in a given format, to a file)."""
