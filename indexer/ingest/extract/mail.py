"""Mail: EML (one message, its attachments as files of their own) and MBOX (each message a page),
with the stdlib ``email`` parser.

A message's text is its From, To, Cc, Date and Subject headers, its body (the plain-text part,
else the HTML part through the HTML extractor) and a line naming its attachments. An EML's
attachments are extracted here, in the worker, by the extractor their name's extension picks
(written to a private temporary file for it), and indexed as files of their own under
``message.eml#name`` (`indexer.paths.ATTACHMENT_MARK`); an attachment that is itself a message
gives its text but not its own attachments. An MBOX is split at its "From " lines as it is read
(the stdlib `mailbox` module opens a mailbox for writing); its messages' attachments are named in
their text, not extracted.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path

from indexer.ingest.budget import OverBudget, ensure_fits
from indexer.ingest.extract.html import html_to_text
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import (
    SNIFF_BYTES,
    Attachment,
    Extraction,
    ExtractionError,
    TextUnit,
    looks_binary,
    normalize_newlines,
)

HEADERS = ("From", "To", "Cc", "Date", "Subject")
MAX_ATTACHMENTS = 64  # per message; the rest are named in its text only
MAX_MESSAGES = 50_000  # per mailbox
MAX_NAME_CHARS = 160
_MESSAGE_SUFFIXES = (".eml", ".mbox")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
# compat32 headers are kept as written and decoded here (RFC 2047): the default policy's header
# registry parses every header it is asked for and took 4 ms a message, most of a mailbox's time.
_PARSER = BytesParser(_class=EmailMessage, policy=policy.compat32)


def _decoded(value: object) -> str:
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError, HeaderParseError):  # a header that lies about itself
        text = str(value)
    return " ".join(text.split())


def _header(message: Message, name: str) -> str:
    return ", ".join(_decoded(v) for v in message.get_all(name) or [])


def _part_text(part: Message) -> str:
    """A text part's content, decoded by its charset (replacement characters where it lies)."""
    payload = part.get_payload(decode=True)
    charset = part.get_content_charset()
    return (payload or b"").decode(charset if _known_charset(charset) else "utf-8", errors="replace")


def _known_charset(name: str | None) -> bool:
    try:
        return bool(name) and codecs.lookup(name) is not None
    except LookupError:
        return False


def _find_body(part: Message, depth: int = 0) -> Message | None:
    """The part a reader sees as the body: plain text preferred among alternatives, else the first
    text part of a mixed or related message; an attachment never."""
    if part.get_content_disposition() == "attachment" or depth > 16:
        return None
    if part.get_content_type() in ("text/plain", "text/html"):
        return part
    if not part.is_multipart():
        return None
    children = [child for child in part.get_payload() if isinstance(child, Message)]
    if part.get_content_type() == "multipart/alternative":
        found = [body for child in children if (body := _find_body(child, depth + 1))]
        return next((b for b in found if b.get_content_subtype() == "plain"), found[0] if found else None)
    return next((body for child in children if (body := _find_body(child, depth + 1))), None)


def _body(message: Message) -> tuple[str, Message | None]:
    """The body's text (plain preferred, else HTML as text) and the part it came from."""
    part = _find_body(message)
    if part is None:
        return "", None
    text = _part_text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text, keep_title=False)  # decoded by the part's charset already
    return normalize_newlines(text).strip(), part


def _is_attachment(part: Message, body: Message | None) -> bool:
    if part is body or part.is_multipart() and part.get_content_type() != "message/rfc822":
        return False
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return True
    # a named inline part is an attachment, unless the HTML body shows it (a logo, by Content-ID)
    return bool(part.get_filename()) and not part.get("Content-ID")


def _attached_parts(message: EmailMessage, body: Message | None) -> Iterator[Message]:
    if not message.is_multipart():
        return
    stack = list(reversed(message.get_payload()))
    while stack:
        part = stack.pop()
        if not isinstance(part, Message):
            continue
        if _is_attachment(part, body):
            yield part
        elif part.is_multipart():
            stack += reversed(part.get_payload())


def _safe_name(raw: str | None, number: int, suffix: str, taken: set[str]) -> str:
    name = _UNSAFE_NAME.sub("_", (raw or "").strip()).strip(" .") or f"attachment-{number}{suffix}"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[:MAX_NAME_CHARS - 8]}.{extension[:7]}" if dot and len(extension) < 8 \
            else name[:MAX_NAME_CHARS]
    unique, copy = name, 2
    while unique in taken:
        stem, dot, extension = name.rpartition(".")
        unique = f"{stem} ({copy}).{extension}" if dot and stem else f"{name} ({copy})"
        copy += 1
    taken.add(unique)
    return unique


def _part_bytes(part: Message) -> tuple[bytes, str]:
    """An attached part's bytes and the suffix its type gives when its name has none."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return (inner.as_bytes() if isinstance(inner, Message) else b""), ".eml"
    payload = part.get_payload(decode=True)
    return (payload if isinstance(payload, bytes) else b""), ""


def _attachment(name: str, data: bytes) -> Attachment:
    content_hash = hashlib.blake2b(data, digest_size=20).hexdigest()
    try:
        ensure_fits(len(data) * 4, f"the attachment {name} ({len(data) / 2**20:,.0f} MiB)")
        return Attachment(name, len(data), content_hash, _extract_attached(name, data))
    except (ExtractionError, OverBudget) as exc:
        return Attachment(name, len(data), content_hash, None, str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a parser bug fails the attachment, not its mail
        return Attachment(name, len(data), content_hash, None,
                          f"unexpected error while reading: {type(exc).__name__}: {exc}")


def _extract_attached(name: str, data: bytes) -> Extraction:
    """The extraction the attachment's own extension picks; a message gives no attachments."""
    from indexer.ingest.extract import extract  # the registry, which imports this module

    suffix = Path(name).suffix.lower()[:16]
    if suffix in _MESSAGE_SUFFIXES:
        return message_extraction(data, with_attachments=False)
    with tempfile.TemporaryDirectory(prefix="findling-attachment-") as folder:
        temporary = Path(folder) / f"attachment{suffix}"
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(data)
        return extract(temporary)


def _message_text(message: EmailMessage) -> tuple[str, list[tuple[str, Message]]]:
    """The message's text, and its attached parts with their unique names."""
    lines = [f"{name}: {value}" for name in HEADERS if (value := _header(message, name))]
    body, body_part = _body(message)
    taken: set[str] = set()
    attached = []
    for number, part in enumerate(_attached_parts(message, body_part), 1):
        suffix = ".eml" if part.get_content_type() == "message/rfc822" else ""
        filename = part.get_filename()
        attached.append((_safe_name(filename and _decoded(filename), number, suffix, taken), part))
    text = "\n".join(lines)
    if body:
        text += "\n\n" + body
    if attached:
        text += "\n\nAttachments: " + ", ".join(name for name, _ in attached)
    return text, attached


def _parse(data: bytes, kind: str) -> EmailMessage:
    if looks_binary(data[:SNIFF_BYTES]):
        raise ExtractionError(f"corrupt {kind}: binary content, not a mail message")
    message = _PARSER.parsebytes(data)
    if not any(message.get(name) for name in HEADERS):
        raise ExtractionError(f"corrupt {kind}: no mail headers (From, To, Date or Subject)")
    return message


def message_extraction(data: bytes, with_attachments: bool = True) -> Extraction:
    """One message's text as one unit, and (`with_attachments`) its attachments extracted."""
    message = _parse(data, "EML")
    text, attached = _message_text(message)
    attachments = tuple(_attachment(name, _part_bytes(part)[0])
                        for name, part in attached[:MAX_ATTACHMENTS]) if with_attachments else ()
    note = (f"{len(attached) - MAX_ATTACHMENTS} attachments past the first {MAX_ATTACHMENTS} "
            "are named only") if with_attachments and len(attached) > MAX_ATTACHMENTS else None
    return Extraction("eml", [TextUnit(text, None)], None, note, attachments)


def extract_eml(path: Path) -> Extraction:
    """Extract a mail message (.eml) and its attachments."""
    with open_regular(path) as fh:
        data = fh.read()
    return message_extraction(data)


def attachment_extraction(path: Path, name: str) -> Extraction:
    """The extraction of the attachment `name` of the message at `path` (for a preview)."""
    with open_regular(path) as fh:
        found = {a.name: a for a in message_extraction(fh.read()).attachments}
    attachment = found.get(name)
    if attachment is None:
        raise ExtractionError(f"{path.name} has no attachment {name!r} any more")
    if attachment.extraction is None:
        raise ExtractionError(attachment.error or "the attachment could not be read")
    return attachment.extraction


# -- MBOX ---------------------------------------------------------------------------------------
def _mbox_messages(fh) -> Iterator[bytes]:  # noqa: ANN001 - a binary file
    """The messages of an mbox, split at each "From " line after a blank line (or at the start),
    with mboxrd's ">From " quoting undone."""
    lines: list[bytes] = []
    previous_blank = True
    for line in fh:
        if line.startswith(b"From ") and previous_blank:
            if lines:
                yield b"".join(lines)
            lines = []
        else:
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            lines.append(line)
        previous_blank = not line.strip()
    if lines:
        yield b"".join(lines)


def extract_mbox(path: Path) -> Extraction:
    """Extract a mailbox, one unit per message: the page is its number, the label its subject."""
    units: list[TextUnit] = []
    note = None
    with open_regular(path) as fh:
        head = fh.read(SNIFF_BYTES)
        if looks_binary(head) or not head.lstrip(b"\r\n").startswith(b"From "):
            raise ExtractionError('corrupt MBOX: it does not start with a "From " line')
        fh.seek(0)
        for number, data in enumerate(_mbox_messages(fh), 1):
            if number > MAX_MESSAGES:
                note = f"cut at the mailbox budget: the first {MAX_MESSAGES:,} messages are indexed"
                break
            try:
                message = _parse(data, "message")
            except ExtractionError:
                continue  # a stray "From " line in a body, or a damaged message: the rest still counts
            text, _ = _message_text(message)
            units.append(TextUnit(text, number, _header(message, "Subject") or None))
    if not units:
        raise ExtractionError("corrupt MBOX: no readable message")
    return Extraction("mbox", units, None, note)
