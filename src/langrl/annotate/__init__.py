"""The feedback-collection web app: load items, annotate five kinds of feedback in a browser, export feedback JSONL.

``langrl annotate serve|load|add-annotator|disable-annotator|export|stats`` (see ``cli.py``); the JSON API is described
in ``API.md``. Storage is SQLite by default and PostgreSQL by URL (``db.py``, ``store.py``); what to ask next is in
``select.py``; agreement statistics in ``agreement.py``. Importing this package needs only the standard library; the
server needs FastAPI, uvicorn, SQLAlchemy and Jinja2.
"""
from langrl.annotate.validate import DEFAULT_CATEGORIES, KINDS

__all__ = ["DEFAULT_CATEGORIES", "KINDS"]
