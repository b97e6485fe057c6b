"""The pages behind a choice link in our emails, in English, German and Spanish.

GET shows what the link would choose and a button (a form that POSTs); only the POST chooses,
so a link scanner that fetches every link in an email chooses nothing. The page language comes
from the link's `lang` query parameter (not signed: it changes only the words on the page).
"""

from __future__ import annotations

import html
from typing import Final

from schemas.choices import Choice

__all__ = ["LANGUAGES", "choose_page", "chosen_page", "page_language"]

LANGUAGES: Final = ("en", "de", "es")

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
