"""The pages behind a choice link and a feedback link in our emails, in English, German and Spanish.

GET shows what the link would choose (or the score it would give, with an optional comment box)
and a button (a form that POSTs); only the POST chooses or answers, so a link scanner that fetches
every link in an email chooses nothing. The page language comes
from the link's `lang` query parameter (not signed: it changes only the words on the page).
"""

from __future__ import annotations

import html
from typing import Final

from schemas.choices import Choice

__all__ = ["FEEDBACK_TEXT_MAX", "LANGUAGES", "choose_page", "chosen_page", "page_language", "rate_page",
           "rated_page"]

LANGUAGES: Final = ("en", "de", "es")
FEEDBACK_TEXT_MAX: Final = 2000

_LABELS: Final[dict[str, dict[Choice, str]]] = {
    "en": {
        "wait": "keep waiting for your order",
        "cancel": "cancel your order and get a full refund",
        "refund": "get a refund for the item",
        "substitute": "get a similar item instead",
        "reship": "get a replacement sent to you",
        "retry_payment": "get a new link to pay",
        "new_date": "arrange a new delivery date",
    },
    "de": {
        "wait": "weiter auf Ihre Bestellung warten",
        "cancel": "Ihre Bestellung stornieren und den vollen Betrag erstattet bekommen",
        "refund": "den Artikel erstattet bekommen",
        "substitute": "stattdessen einen ähnlichen Artikel bekommen",
        "reship": "einen Ersatz zugeschickt bekommen",
        "retry_payment": "einen neuen Link zum Bezahlen bekommen",
        "new_date": "einen neuen Liefertermin vereinbaren",
    },
    "es": {
        "wait": "seguir esperando tu pedido",
        "cancel": "cancelar tu pedido y recibir el reembolso completo",
        "refund": "recibir el reembolso del artículo",
        "substitute": "recibir un artículo parecido en su lugar",
        "reship": "recibir un reemplazo",
        "retry_payment": "recibir un enlace nuevo para pagar",
        "new_date": "acordar una nueva fecha de entrega",
    },
}

_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "choose_title": "Confirm your choice",
        "choose_text": "You'd like to {label}. Is that right?",
        "button": "Yes, confirm",
        "chosen_title": "Thank you",
        "chosen_text": "We have your answer: you'd like to {label}. We'll confirm by email once it's done.",
    },
    "de": {
        "choose_title": "Ihre Wahl bestätigen",
        "choose_text": "Sie möchten {label}. Stimmt das?",
        "button": "Ja, bestätigen",
        "chosen_title": "Vielen Dank",
        "chosen_text": "Wir haben Ihre Antwort: Sie möchten {label}. Wir bestätigen es Ihnen per E-Mail, sobald "
                       "es erledigt ist.",
    },
    "es": {
        "choose_title": "Confirma tu elección",
        "choose_text": "Quieres {label}. ¿Es correcto?",
        "button": "Sí, confirmar",
        "chosen_title": "Gracias",
        "chosen_text": "Ya tenemos tu respuesta: quieres {label}. Te lo confirmaremos por correo cuando esté hecho.",
    },
}


_FEEDBACK: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "How did we handle it?",
        "text": "You'd give us {score} out of 5 (1 poor, 5 great).",
        "comment": "Anything you'd like to tell us? (optional)",
        "button": "Send my answer",
        "thanks_title": "Thank you",
        "thanks": "Thank you for telling us.",
        "sorry": "We're sorry it wasn't better.",
    },
    "de": {
        "title": "Wie haben wir es gelöst?",
        "text": "Sie geben uns {score} von 5 (1 schlecht, 5 sehr gut).",
        "comment": "Möchten Sie uns noch etwas sagen? (freiwillig)",
        "button": "Antwort senden",
        "thanks_title": "Vielen Dank",
        "thanks": "Vielen Dank für Ihre Rückmeldung.",
        "sorry": "Es tut uns leid, dass es nicht besser war.",
    },
    "es": {
        "title": "¿Cómo lo resolvimos?",
        "text": "Nos das un {score} de 5 (1 mal, 5 muy bien).",
        "comment": "¿Quieres contarnos algo más? (opcional)",
        "button": "Enviar mi respuesta",
        "thanks_title": "Gracias",
        "thanks": "Gracias por contárnoslo.",
        "sorry": "Sentimos que no haya sido mejor.",
    },
}


def page_language(value: str | None) -> str:
    """`en`, `de` or `es` from a locale such as `de-DE`; English otherwise."""
    language = (value or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LANGUAGES else "en"


def choose_page(language: str, choice: Choice) -> tuple[str, str]:
    """(title, HTML body) of the confirmation form a GET shows; the form POSTs back to the same link."""
    words, label = _WORDS[language], _LABELS[language][choice]
    content = (
        f"<p>{html.escape(words['choose_text'].format(label=label))}</p>"
        f'<form method="post"><input type="hidden" name="choice" value="{html.escape(choice)}">'
        f'<button type="submit">{html.escape(words["button"])}</button></form>'
    )
    return words["choose_title"], content


def chosen_page(language: str, choice: Choice) -> tuple[str, str]:
    """(title, HTML body) after the POST."""
    words, label = _WORDS[language], _LABELS[language][choice]
    return words["chosen_title"], f"<p>{html.escape(words['chosen_text'].format(label=label))}</p>"


def rate_page(language: str, score: int) -> tuple[str, str]:
    """(title, HTML body) of the feedback form a GET shows: the score, an optional comment, a button (POSTs back)."""
    words = _FEEDBACK[language]
    content = (
        f"<p>{html.escape(words['text'].format(score=score))}</p>"
        f'<form method="post"><input type="hidden" name="score" value="{score}">'
        f'<p><label for="comment">{html.escape(words["comment"])}</label><br>'
        f'<textarea id="comment" name="comment" rows="4" cols="40" maxlength="{FEEDBACK_TEXT_MAX}"></textarea></p>'
        f'<button type="submit">{html.escape(words["button"])}</button></form>'
    )
    return words["title"], content


def rated_page(language: str, *, low: bool) -> tuple[str, str]:
    """(title, HTML body) after the POST; a low score hears we are sorry (and no promise, as by SMS)."""
    words = _FEEDBACK[language]
    text = words["thanks"] + (" " + words["sorry"] if low else "")
    return words["thanks_title"], f"<p>{html.escape(text)}</p>"
