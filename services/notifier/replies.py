"""What an inbound SMS means: a carrier keyword, one of the choices we offered, or words for a person.

Carrier keywords come first and keep their carrier meaning: STOP, CANCEL, END, QUIT,
UNSUBSCRIBE, STOPALL, REVOKE and OPTOUT opt out, START, YES and UNSTOP opt back in, HELP and INFO
ask for help, when the keyword is the whole message (any case, padding, trailing punctuation), as
carriers read them. None of them is ever read as a choice, inside a phrase either.

A choice is understood in English, German and Spanish, whatever the customer's language:

- a number: the N-th choice the message offered (1-based), "2", "2.", "#2", "2 please"; digits
  are ASCII only (Arabic-Indic or superscript digits are not numbers here), and a number outside
  the offered range is not a choice;
- words, with or without accents and in any case, alone or in a short phrase: "refund please",
  "Erstattung bitte", "lieber stornieren", "prefiero esperar", "reembolso", "I'll wait".
  A word stands for its choice, or for a close one where that is what was offered (cancelling
  an item we cannot send is a refund of it; "money back" on an unshipped order cancels it).

Anything else is not understood, and a person answers: two different choices in one message, a
negation ("no refund", "nicht warten", "no quiero esperar"), a choice that was not offered, or
more than a few words besides the choice (a question or a complaint deserves a person).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from schemas.choices import Choice

__all__ = [
    "CARRIER_KEYWORDS",
    "HELP_KEYWORDS",
    "START_KEYWORDS",
    "STOP_KEYWORDS",
    "Understood",
    "classify_reply",
    "read_choice",
    "understand",
]

Reply = Literal["stop", "start", "help", "other"]

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_KEYWORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
CARRIER_KEYWORDS = STOP_KEYWORDS | START_KEYWORDS | HELP_KEYWORDS

MAX_OTHER_WORDS = 3
"""Words besides the choice (and polite filler) that a reply may carry and still be read as a choice."""


def classify_reply(body: str) -> Reply:
    """A keyword counts when it is the whole message, in any case, with padding and trailing punctuation."""
    word = body.strip().strip(".!?,;:").strip().upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return "other"


# -- the words ---------------------------------------------------------------------------------
# Each pattern is matched against the folded text (lower case, accents removed, punctuation as
# spaces) at a word start; `\w*` lets a stem take any ending. Each reads as its choices in order of
# preference: the first one the message offered is meant.
_WORDS: tuple[tuple[str, tuple[Choice, ...]], ...] = (
    # wait
    (r"wait\w*|hold on|keep (?:it|the order|my order)", ("wait",)),
    (r"warte\w*|abwarten|wart ich", ("wait",)),
    (r"esper\w*|aguard\w*", ("wait",)),
    # cancel (never the bare word "cancel": a carrier keyword)
    (r"cancellation|cancelled|canceled|cancelling|canceling", ("cancel", "refund")),
    (r"storn\w*|annullier\w*|zurucktreten|vom kauf zuruck\w*", ("cancel", "refund")),
    (r"cancela\w*|cancelo|cancele\w*|anul\w*", ("cancel", "refund")),
    # refund
    (r"refund\w*|money back|my money", ("refund", "cancel")),
    (r"erstatt\w*|ruckerstatt\w*|ruckzahl\w*|geld zuruck|mein geld", ("refund", "cancel")),
    (r"reembols\w*|devolucion\w*|devuelv\w*|mi dinero|dinero de vuelta", ("refund", "cancel")),
    # a similar item instead (stock) or a replacement parcel (delivery)
    (r"substitut\w*|swap\w*|similar|alternativ\w*|something else|another item", ("substitute",)),
    (r"ahnlich\w*|anderen artikel|anderes produkt|tausch\w*|austausch\w*", ("substitute",)),
    (r"sustitu\w*|parecido|otro articulo|otro producto|cambiar(?:lo)? por", ("substitute",)),
    (r"replace\w*", ("reship", "substitute")),
    (r"ersatz\w*", ("reship", "substitute")),
    (r"reemplaz\w*|repuesto", ("reship", "substitute")),
    (r"reship\w*|resend\w*|send (?:it )?again|send (?:me )?(?:another|a new)(?: one)?|new one", ("reship",)),
    (r"neu (?:senden|schicken|liefern)|nochmal (?:senden|schicken)|erneut (?:senden|schicken|liefern)"
     r"|neulieferung|nachliefer\w*", ("reship",)),
    (r"reenvi\w*|enviar otro|mandar otro|envi\w* de nuevo|otro nuevo", ("reship",)),
    # pay again
    (r"retry|pay again|try again|new payment|payment link|pay now", ("retry_payment",)),
    (r"(?:erneut|nochmal|noch einmal|neu) (?:zahlen|bezahlen|versuchen)|zahlungslink", ("retry_payment",)),
    (r"reintent\w*|volver a pagar|pagar de nuevo|pagar otra vez|intentar de nuevo|enlace de pago",
     ("retry_payment",)),
    # another delivery date
    (r"new date|another date|other date|different (?:date|day)|reschedul\w*", ("new_date",)),
    (r"neue\w* (?:termin|datum|tag|liefertermin)|ander\w* (?:termin|datum|tag)|liefertermin", ("new_date",)),
    (r"otra fecha|nueva fecha|otro dia|reprogram\w*", ("new_date",)),
)
_PATTERNS = tuple((re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])"), choices) for pattern, choices in _WORDS)

_NEGATIONS = frozenset({
    "no", "not", "dont", "don", "never", "without", "nope",
    "nicht", "kein", "keine", "keinen", "nein", "nie",
    "nunca", "sin", "tampoco",
})
# Polite words and the frame of a short answer, in the three languages: they neither add nor
# take away a meaning. Carrier keywords are here too, so "yes 2" is the number 2.
_FILLER = frozenset({
    # en
    "i", "id", "ill", "im", "a", "an", "the", "to", "me", "my", "it", "for", "with", "and", "please", "pls", "plz",
    "thanks", "thank", "thx", "you", "ok", "okay", "yes", "yeah", "yep", "sure", "would", "like", "want", "prefer",
    "rather", "just", "option", "number", "choice", "choose", "take", "go", "lets", "let", "us", "will", "do",
    "get", "have", "can", "instead", "one", "is", "fine", "good", "great", "hi", "hello", "order", "item",
    "d", "ll", "m", "s",
    # de
    "ich", "mochte", "moechte", "hatte", "haette", "gern", "gerne", "lieber", "bitte", "danke", "die",
    "der", "das", "den", "dem", "ein", "eine", "einen", "nehme", "nummer", "wahle", "waehle", "ja", "und",
    "mit", "fur", "fuer", "auf", "es", "sie", "mir", "mein", "meine", "meinen", "bestellung", "artikel",
    "hallo", "gut", "doch", "dann", "einfach", "moglichkeit",
    # es
    "quiero", "prefiero", "prefiere", "por", "favor", "gracias", "el", "la", "los", "las", "un", "una",
    "mejor", "opcion", "numero", "elijo", "si", "vale", "lo", "de", "y", "con", "para", "mi", "pedido",
    "articulo", "hola", "bien", "que", "yo", "solo", "prefeririamos",
})
_KEYWORDS_IN_A_PHRASE = frozenset(word.lower() for word in CARRIER_KEYWORDS) - {"yes"}
_FOLD_DROP = re.compile(r"[^a-z0-9]+")
_NUMBER = re.compile(r"^[0-9]{1,3}$")
_SIGNED = re.compile(r"[-\u2212][ ]?[0-9]")  # "-1" is no position in a list


def _fold(text: str) -> str:
    """Lower case without accents; anything but ASCII letters and digits becomes a space.

    Canonical decomposition only (NFD): compatibility forms such as superscript or full-width
    digits stay what they are, so they are never read as ASCII numbers."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_FOLD_DROP.sub(" ", plain).split())


@dataclass(frozen=True, slots=True)
class Understood:
    """What an inbound SMS means: a keyword, a choice among those offered, or neither (`other`)."""

    kind: Literal["stop", "start", "help", "choice", "other"]
    choice: Choice | None = None


def understand(body: str, offered: Sequence[Choice]) -> Understood:
    """Keywords first (carrier meaning), then a choice among `offered`, else `other`."""
    keyword = classify_reply(body)
    if keyword != "other":
        return Understood(keyword)
    choice = read_choice(body, offered)
    return Understood("choice", choice) if choice is not None else Understood("other")


def read_choice(body: str, offered: Sequence[Choice]) -> Choice | None:
    """The offered choice a reply names, by number or by words; None when it names none or several."""
    if not offered or classify_reply(body) != "other" or _SIGNED.search(body):
        return None
    text = _fold(body)
    meant: set[Choice] = set()
    for pattern, choices in _PATTERNS:
        if pattern.search(text) is None:
            continue
        text = pattern.sub(" ", text)
        wanted = next((choice for choice in choices if choice in offered), None)
        if wanted is None:
            return None  # a choice we did not offer: a person reads it
        meant.add(wanted)
    rest = text.split()
    if any(word in _NEGATIONS or word in _KEYWORDS_IN_A_PHRASE for word in rest):
        return None  # "no refund", or a carrier keyword beside a choice ("stop 2"): a person reads it
    numbers = [word for word in rest if _NUMBER.fullmatch(word)]
    others = [word for word in rest if word not in _FILLER and not _NUMBER.fullmatch(word)]
    if len(numbers) > 1 or len(others) > MAX_OTHER_WORDS:
        return None
    if numbers:
        position = int(numbers[0])
        if not 1 <= position <= len(offered):
            return None
        meant.add(offered[position - 1])
    return meant.pop() if len(meant) == 1 else None
