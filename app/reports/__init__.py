"""Reports: the ad-hoc builder over a curated read model (``builder``), the monthly reports
per partner, hub and the company (``monthly``), their PDF and XLSX (``documents``), saved
reports and the monthly e-mails to their subscribers (``schedules``).

Reports only read. They read the tables of several modules directly: the curated model in
``builder`` is the one place that names them, and no user input ever becomes SQL text."""
