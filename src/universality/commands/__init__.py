"""Commands that check or package what the stages wrote (`make verify`, `make check-cache`, `make anonymous-artifact`).

Not DVC stages: they write no stage output. `python -m universality COMMAND` runs one.
"""
