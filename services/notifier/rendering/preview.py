"""Preview messages with example data: `python -m services.notifier.rendering.preview`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import get_args

from .context import IncidentKind
from .examples import EXAMPLE_LOCALES, INCIDENT_KINDS, example_context
from .render import MAX_SMS_SEGMENTS, Channel, RenderedMessage, render

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Render notifier messages from example data.")
    parser.add_argument("--kind", choices=INCIDENT_KINDS, default="not_shipped")
    parser.add_argument("--channel", choices=get_args(Channel), default="sms")
    parser.add_argument("--locale", default="en", help="customer locale, e.g. de or de-DE")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        choices=INCIDENT_KINDS,
        help="another incident on the same order (repeatable)",
    )
    parser.add_argument("--escalated", action="store_true", help="a person will reach out")
    parser.add_argument("--html", action="store_true", help="print the HTML part of an email")
    parser.add_argument(
        "--all", action="store_true", help="render every kind x channel x locale and print SMS segment counts"
    )
    return parser


def _show(message: RenderedMessage, html: bool) -> str:
    lines = [f"# templates: {', '.join(message.templates)}"]
    if message.segments is not None:
        info = message.segments
        lines.append(f"# {message.form} form, {info.encoding}, {info.units} units, {info.segments} segment(s)")
    if message.subject is not None:
        lines.append(f"Subject: {message.subject}")
    lines.append(message.html or "" if html else message.text)
    return "\n".join(lines)


def _render_all(out: list[str]) -> int:
    """Render everything; return how many SMS exceed the segment limit."""
    too_long = fits_one = total = 0
    for locale in EXAMPLE_LOCALES:
        for kind in INCIDENT_KINDS:
            ctx = example_context(kind, locale)
            render(ctx, "email")
            sms = render(ctx, "sms")
            info = sms.segments
            if info is None:  # an SMS always carries its segment count
                raise RuntimeError(f"no segment count for {kind}/{locale}")
            total += 1
            fits_one += info.segments == 1
            too_long += info.segments > MAX_SMS_SEGMENTS
            flag = "" if info.segments <= MAX_SMS_SEGMENTS else "  TOO LONG"
            out.append(
                f"{locale:3} {kind:24} sms {info.segments} segment(s) {info.encoding:5} "
                f"{info.units:4} units ({sms.form}){flag}"
            )
    out.append(f"{fits_one} of {total} SMS fit in one segment; {too_long} exceed {MAX_SMS_SEGMENTS}.")
    return too_long


def main(argv: Sequence[str] | None = None) -> int:
    """Print a preview; exit 1 if any SMS needs more than two segments."""
    args = _parser().parse_args(argv)
    out: list[str] = []
    if args.all:
        failed = _render_all(out)
    else:
        kind: IncidentKind = args.kind
        ctx = example_context(kind, args.locale, others=tuple(args.also), escalated=args.escalated)
        message = render(ctx, args.channel)
        out.append(_show(message, args.html))
        failed = int(message.segments is not None and message.segments.segments > MAX_SMS_SEGMENTS)
    sys.stdout.write("\n".join(out) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
