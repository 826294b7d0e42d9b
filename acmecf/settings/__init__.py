"""Settings: each stored certificate setting declared once (`table`), and the parsers of the
values users type (`values`).

Loading, saving, validation, the CLI's options for stored settings, their environment
variables and the precedence (flags > environment > stored > defaults) all come from
`table.SETTINGS`. Does not read or write files (storage does) or know click (cli does).
"""
