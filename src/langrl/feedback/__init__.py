"""Feedback records for the five kinds of feedback, their files, other tools' formats, and conversions (stdlib only).

    from langrl.feedback import read_feedback, ranking_to_comparisons
    fb = read_feedback("prefs.jsonl", on_error="skip")
    print(fb.summary())

See :mod:`langrl.feedback.records` for the JSON lines contract of each kind, :mod:`langrl.feedback.formats` for TRL,
Anthropic HH and QA-Feedback (fine-grained RLHF) input, and :mod:`langrl.feedback.convert` for conversions.
"""
from langrl.feedback.convert import (comparison_to_ranking, critique_to_comparison, ranking_to_comparisons,
                                     spans_to_comparison, to_comparisons)
from langrl.feedback.files import FeedbackFile, default_rejects_path, read_feedback, read_rows, write_feedback
from langrl.feedback.formats import FORMATS, convert, detect_format, preferences_to_tiers, split_hh
from langrl.feedback.parse import FieldError, detect_kind, parse_ranking_string, record_from_dict
from langrl.feedback.records import (KINDS, Comparison, Critique, Ranking, Rating, Record, Span, SpanFeedback,
                                     default_labels, format_ranking)

__all__ = [
    "KINDS", "FORMATS", "Rating", "Comparison", "Ranking", "Span", "SpanFeedback", "Critique", "Record",
    "record_from_dict", "detect_kind", "parse_ranking_string", "format_ranking", "default_labels", "FieldError",
    "FeedbackFile", "read_feedback", "read_rows", "write_feedback", "default_rejects_path",
    "convert", "detect_format", "split_hh", "preferences_to_tiers",
    "ranking_to_comparisons", "comparison_to_ranking", "critique_to_comparison", "spans_to_comparison",
    "to_comparisons",
]
