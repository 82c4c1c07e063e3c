"""A Note: a sentence a stage means to say, as a message key and its parameters, not as prose.

The harness and verify emit Notes; only the places that show text (the report, the leaderboard,
a command's console output) render them, in Russian or English, from the one catalog in
grader.messages. Keeping keys and parameters in the documents means a sentence can be reworded
or translated without re-measuring, and both languages always say the same thing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# The key of a note kept from an older document that stored prose (measurement schema 1 and 2):
# params `en` and `ru` hold its text in each language, as it was written.
VERBATIM = "text"


class Note(BaseModel):
    """``key`` names a message in grader.messages (ru + en), ``params`` fill its placeholders."""

    model_config = ConfigDict(extra="forbid")

    key: str
    params: dict[str, Param] = {}


# A parameter: text (already written, or `@key`, a reference to another message), a number that
# the catalog writes in the reader's language (its placeholder names how: `{size:bytes}`), a
# name → fraction map (`{shares:shares}`: dtypes and their share of the parameters), or another
# Note, rendered in the same language (a figure with its interval inside a sentence).
Param = str | int | float | dict[str, float] | Note

Note.model_rebuild()  # Param, defined after it, refers to Note itself
