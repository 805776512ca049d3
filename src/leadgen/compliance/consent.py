"""The consent the public quote form asks for: the api records it with each quote request."""

from __future__ import annotations

# The exact words shown beside the quote form's consent checkbox; the api stores this string as the
# consent record of every quote request, so changing it changes what every new lead's record says
# the person agreed to.
CONSENT_TEXT = (
    "By ticking this box and pressing \u201cGet my quotes\u201d, I agree that licensed insurance "
    "agents working with this agency may contact me about insurance quotes at the phone number "
    "and e-mail address I gave, including by calls and text messages sent with automated "
    "technology or prerecorded voice. My consent is not a condition of buying anything. Message "
    "and data rates may apply. I can withdraw my consent at any time by telling an agent or "
    "replying STOP."
)
