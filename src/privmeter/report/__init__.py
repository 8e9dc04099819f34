"""The audit report: attack results + threat-model card -> HTML, JSON, CSV, PNG and PDF.

:class:`AuditReport` bundles the :class:`~privmeter.result.AttackResult` of each attack,
the threat-model card (how the audit was run) and optional per-record data (features or
images, to show the records most at risk). :meth:`AuditReport.save` writes:

- ``report.html``: one self-contained page (plots inline as base64 PNG, inline CSS, a
  Content-Security-Policy that forbids any network access);
- ``results.json``: the versioned schema of :meth:`AuditReport.to_dict`, small: figures,
  verdict, card and the most exposed records; the per-point arrays (scores, membership,
  point ids, labels, record features) go to ``scores.npz`` beside it, referenced with its
  SHA-256 and loaded without pickles (``images.npy`` beside it when the records have images);
- ``records.csv``: one row per (target, audited point) with every attack's score;
- PNG plots and ``report.pdf`` with the same content.

The flow: :mod:`~privmeter.report.model` (the data, no I/O) ->
:mod:`~privmeter.report.verdict` (the risk rule) -> :mod:`~privmeter.report.tables` (figures
as text, records table) -> :mod:`~privmeter.report.io` (results.json + scores.npz, save and
load) and the renderers :mod:`~privmeter.report.plots`, :mod:`~privmeter.report.html`,
:mod:`~privmeter.report.pdf`.

Rendering needs the ``report`` extra (matplotlib, jinja2, fpdf2); building, summarising and
(de)serialising a report needs only numpy.
"""

from __future__ import annotations

# The file names and schema constants are re-exported (``X as X``) for code that read them
# from here before the split; they are not in ``__all__``.
from privmeter.report import tables as tables
from privmeter.report.io import ARRAYS_NAME as ARRAYS_NAME
from privmeter.report.io import CSV_NAME as CSV_NAME
from privmeter.report.io import HTML_NAME as HTML_NAME
from privmeter.report.io import IMAGES_NAME as IMAGES_NAME
from privmeter.report.io import JSON_NAME as JSON_NAME
from privmeter.report.io import JSON_TOP_RECORDS as JSON_TOP_RECORDS
from privmeter.report.io import PDF_NAME as PDF_NAME
from privmeter.report.io import READABLE_SCHEMA_VERSIONS as READABLE_SCHEMA_VERSIONS
from privmeter.report.io import REPORT_FORMATS, REPORT_SCHEMA_VERSION
from privmeter.report.model import AuditReport, RecordData
from privmeter.report.verdict import Verdict, assess_attack, assess_risk

__all__ = [
    "REPORT_FORMATS",
    "REPORT_SCHEMA_VERSION",
    "AuditReport",
    "RecordData",
    "Verdict",
    "assess_attack",
    "assess_risk",
]
