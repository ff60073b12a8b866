"""Email delivery over SMTP (``smtplib``), with optional STARTTLS and login.

One connection per message: the outbox sends few emails, and a fresh connection keeps one
bad message from poisoning the next. Messages carry ``X-DeepShield-Delivery: <id>`` (the
same on every retry) and ``Auto-Submitted: auto-generated`` (RFC 3834) so that auto-replies
are not sent back.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from deepshield.notifications import DeliveryError
from deepshield.notifications.webhook import DELIVERY_HEADER
from deepshield.settings import NotificationSettings

DEFAULT_TIMEOUT_S = 30.0


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot receive email, or None. The reason never repeats the address."""
    if not address or len(address) > 254:
        return "an email address is 1-254 characters"
    if any(ch.isspace() or ch in "<>,;\"" for ch in address) or address.count("@") != 1:
        return "an email address is one local part, '@' and a domain, with no spaces"
    local, domain = address.split("@")
    if not local or "." not in domain.strip(".") or domain.startswith("."):
        return "an email address needs a local part and a domain such as example.org"
    return None


def _smtp_failure(error: smtplib.SMTPException) -> DeliveryError:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        # 5xx: the server refuses the address for good; 4xx: try again later.
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(f"the SMTP server refused the recipient ({', '.join(map(str, codes))})",
                             permanent=permanent)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"the SMTP server refused the login ({error.smtp_code})")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return DeliveryError("the SMTP server does not support what was asked (STARTTLS or login)")
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryError(f"the SMTP server answered {error.smtp_code}",
                             permanent=error.smtp_code >= 500 and not isinstance(
                                 error, smtplib.SMTPSenderRefused))
    return DeliveryError(f"SMTP failed ({type(error).__name__})")


def build_message(settings: NotificationSettings, *, to: str, subject: str, body: str,
                  delivery_id: str) -> EmailMessage:
    """The message as sent: From, To, Subject, Date, Message-ID and the delivery header."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "deepshield.invalid"
    message["Message-ID"] = make_msgid(idstring=f"notification-{delivery_id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message[DELIVERY_HEADER] = delivery_id
    message.set_content(body)
    return message


def send_email(settings: NotificationSettings, *, to: str, subject: str, body: str,
               delivery_id: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Send one plain-text email through ``settings.smtp_host``.

    Returns once the server accepted it. Raises ``DeliveryError`` (its reason names neither
    the address nor the server) when SMTP is not configured, unreachable or refuses.
    """
    if not settings.smtp_host:
        raise DeliveryError("SMTP is not configured (DEEPSHIELD_SMTP_HOST)")
    problem = address_problem(to)
    if problem:
        raise DeliveryError(problem, permanent=True)
    message = build_message(settings, to=to, subject=subject, body=body, delivery_id=delivery_id)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout_s) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPException as error:
        raise _smtp_failure(error) from None
    except ssl.SSLError as error:
        raise DeliveryError(f"TLS with the SMTP server failed ({type(error).__name__})") from None
    except OSError as error:
        raise DeliveryError(f"could not reach the SMTP server ({type(error).__name__})") from None
