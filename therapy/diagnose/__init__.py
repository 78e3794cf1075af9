"""Suggests a root cause for a complaint, with its confidence and reasons, and finds
near-duplicate complaints. It learns from the labelled corpus (prompts/corpus.toml) and from
the causes facilitators agreed; see suggester.py for how."""

from therapy.diagnose.alike import near_duplicates, similarity
from therapy.diagnose.suggester import Settings, Suggester
from therapy.diagnose.words import words

__all__ = ["Settings", "Suggester", "near_duplicates", "similarity", "words"]
