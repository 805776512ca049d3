"""US ZIP codes to states and states to time zones.

ZIP prefixes (the first three digits) map to one state each, per the USPS sectional center
facility ranges; that is exact for the state of nearly every ZIP (a few serve another state too, or
instead: ``_ZIP_STATES``) but not for the county, which needs the full ZIP file and is left to
enrichment. The Pacific territories share prefixes and are told apart
by their five-digit ranges. "State" here means a state, DC or a territory: the places intake
takes addresses (and phone numbers, ``normalize.US_REGIONS``) of.

A state's time zone is its most populous one; the states that span two zones also list the other,
for the rules that must hold wherever in the state a person is.
"""

from __future__ import annotations

_PREFIX_RANGES: tuple[tuple[int, int, str], ...] = (
    (5, 5, "NY"),
    (6, 7, "PR"),
    (8, 8, "VI"),
    (9, 9, "PR"),
    (10, 27, "MA"),
    (28, 29, "RI"),
    (30, 38, "NH"),
    (39, 49, "ME"),
    (50, 59, "VT"),
    (60, 69, "CT"),
    (70, 89, "NJ"),
    (100, 149, "NY"),
    (150, 196, "PA"),
    (197, 199, "DE"),
    (200, 200, "DC"),
    (201, 201, "VA"),
    (202, 205, "DC"),
    (206, 219, "MD"),
    (220, 246, "VA"),
    (247, 268, "WV"),
    (270, 289, "NC"),
    (290, 299, "SC"),
    (300, 319, "GA"),
    (320, 339, "FL"),
    (341, 349, "FL"),
    (350, 369, "AL"),
    (370, 385, "TN"),
    (386, 397, "MS"),
    (398, 399, "GA"),
    (400, 427, "KY"),
    (430, 459, "OH"),
    (460, 479, "IN"),
    (480, 499, "MI"),
    (500, 528, "IA"),
    (530, 549, "WI"),
    (550, 567, "MN"),
    (569, 569, "DC"),
    (570, 577, "SD"),
    (580, 588, "ND"),
    (590, 599, "MT"),
    (600, 629, "IL"),
    (630, 658, "MO"),
    (660, 679, "KS"),
    (680, 693, "NE"),
    (700, 714, "LA"),
    (716, 729, "AR"),
    (730, 732, "OK"),
    (733, 733, "TX"),
    (734, 749, "OK"),
    (750, 799, "TX"),
    (800, 816, "CO"),
    (820, 831, "WY"),
    (832, 838, "ID"),
    (840, 847, "UT"),
    (850, 865, "AZ"),
    (870, 884, "NM"),
    (885, 885, "TX"),
    (889, 898, "NV"),
    (900, 961, "CA"),
    (967, 968, "HI"),  # but 96799, American Samoa's (_ZIP_RANGES)
    # 969 is shared: Guam, the Northern Mariana Islands and the freely associated states (Palau,
    # Micronesia, the Marshall Islands: other countries), so only _ZIP_RANGES names its ZIPs.
    (970, 979, "OR"),
    (980, 994, "WA"),
    (995, 999, "AK"),
)

_PREFIX_TO_STATE = {p: state for lo, hi, state in _PREFIX_RANGES for p in range(lo, hi + 1)}

# Five-digit ranges of the territories whose prefix another place shares; they come before the prefixes.
_ZIP_RANGES: tuple[tuple[int, int, str], ...] = (
    (96799, 96799, "AS"),  # American Samoa, in Hawaii's prefix 967
    (96910, 96932, "GU"),
    (96950, 96952, "MP"),
)

# Five-digit ZIPs whose states are not just their prefix's, each with the states it serves, the one
# USPS names for it first. Most are ZIPs whose delivery area crosses a state line: the 13 ZIP Code
# Tabulation Areas that the Census Bureau's 2010 ZCTA-to-place relationship file places in two states
# (Fort Campbell's 42223 in Kentucky and Tennessee, New Pine Creek's 97635 in Oregon and California).
# One is a ZIP USPS gives a town of another state than its prefix's: Texhoma, Texas's 73960, in
# Oklahoma's prefix 739. The list is not exhaustive: later ZCTAs and USPS's own delivery areas cross
# other state lines too, and a ZIP found to serve another state belongs here.
_ZIP_STATES: dict[str, tuple[str, ...]] = {
    "02861": ("RI", "MA"),  # Pawtucket
    "42223": ("KY", "TN"),  # Fort Campbell
    "59221": ("MT", "ND"),  # Fairview
    "63673": ("MO", "IL"),  # Saint Mary
    "71749": ("AR", "LA"),  # Junction City
    "73949": ("OK", "TX"),  # Texhoma, Oklahoma
    "73960": ("TX",),  # Texhoma, Texas
    "81137": ("CO", "NM"),  # Ignacio
    "84536": ("UT", "AZ"),  # Monument Valley
    "86044": ("AZ", "UT"),  # Tonalea
    "86515": ("AZ", "NM"),  # Window Rock
    "88063": ("NM", "TX"),  # Sunland Park
    "89439": ("NV", "CA"),  # Verdi
    "97635": ("OR", "CA"),  # New Pine Creek
}

STATE_TIMEZONES: dict[str, str] = {
    "AL": "America/Chicago",
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "AR": "America/Chicago",
    "CA": "America/Los_Angeles",
    "CO": "America/Denver",
    "CT": "America/New_York",
    "DE": "America/New_York",
    "DC": "America/New_York",
    "FL": "America/New_York",
    "GA": "America/New_York",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago",
    "KS": "America/Chicago",
    "KY": "America/New_York",
    "LA": "America/Chicago",
    "ME": "America/New_York",
    "MD": "America/New_York",
    "MA": "America/New_York",
    "MI": "America/Detroit",
    "MN": "America/Chicago",
    "MS": "America/Chicago",
    "MO": "America/Chicago",
    "MT": "America/Denver",
    "NE": "America/Chicago",
    "NV": "America/Los_Angeles",
    "NH": "America/New_York",
    "NJ": "America/New_York",
    "NM": "America/Denver",
    "NY": "America/New_York",
    "NC": "America/New_York",
    "ND": "America/Chicago",
    "OH": "America/New_York",
    "OK": "America/Chicago",
    "OR": "America/Los_Angeles",
    "PA": "America/New_York",
    "RI": "America/New_York",
    "SC": "America/New_York",
    "SD": "America/Chicago",
    "TN": "America/Chicago",
    "TX": "America/Chicago",
    "UT": "America/Denver",
    "VT": "America/New_York",
    "VA": "America/New_York",
    "WA": "America/Los_Angeles",
    "WV": "America/New_York",
    "WI": "America/Chicago",
    "WY": "America/Denver",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "AS": "Pacific/Pago_Pago",
    "MP": "Pacific/Saipan",
}

# The other zone of each state split between two (parts of counties count: a ZIP prefix does not
# tell which side of the line a person lives on).
STATE_OTHER_TIMEZONES: dict[str, str] = {
    "AK": "America/Adak",  # the Aleutians west of 169.5° W
    "AL": "America/New_York",  # Phenix City and its neighbours keep Eastern time, unofficially
    "AZ": "America/Denver",  # the Navajo Nation keeps daylight saving time
    "FL": "America/Chicago",  # the Panhandle west of the Apalachicola River
    "ID": "America/Los_Angeles",  # the northern panhandle
    "IN": "America/Chicago",  # the north-west and south-west corners
    "KS": "America/Denver",  # four western counties
    "KY": "America/Chicago",  # the western half
    "MI": "America/Menominee",  # four Upper Peninsula counties
    "NE": "America/Denver",  # the western panhandle
    "NV": "America/Denver",  # West Wendover
    "ND": "America/Denver",  # the south-west
    "OR": "America/Boise",  # most of Malheur County
    "SD": "America/Denver",  # the western half
    "TN": "America/New_York",  # East Tennessee
    "TX": "America/Denver",  # El Paso and Hudspeth counties
}

STATES = frozenset(STATE_TIMEZONES)

# Each place's name, as a person picks it from a list (the quote form's state, for a ZIP that serves two).
STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AS": "American Samoa", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "GU": "Guam", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine",
    "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire",
    "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "MP": "Northern Mariana Islands", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "PR": "Puerto Rico", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VI": "U.S. Virgin Islands",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip

# The armed forces' post offices abroad (APO, FPO, DPO) have ZIP codes and "state" codes of their own:
# Europe, the Middle East, Africa and Canada (AE), the Americas (AA) and the Pacific (AP). They are
# no state: no state licence covers a person there, so no agent may be offered their lead.
MILITARY_STATES = frozenset({"AA", "AE", "AP"})
_MILITARY_PREFIXES = frozenset((*range(90, 99), 340, *range(962, 967)))  # 090-098 AE, 340 AA, 962-966 AP
MILITARY_ADDRESS_REFUSED = (
    "military APO/FPO/DPO addresses are not served: agents are licensed by state, and no state covers them"
)


def state_for_zip(zip_code: str) -> str | None:
    """The state USPS names for a five-digit ZIP code, or None for ZIPs of no state. A ZIP may
    serve another state too: ``states_for_zip`` names them all."""
    if len(zip_code) < 3 or not zip_code[:3].isdigit():
        return None
    if len(zip_code) >= 5 and zip_code[:5].isdigit():
        if zip_code[:5] in _ZIP_STATES:
            return _ZIP_STATES[zip_code[:5]][0]
        number = int(zip_code[:5])
        for low, high, state in _ZIP_RANGES:
            if low <= number <= high:
                return state
    return _PREFIX_TO_STATE.get(int(zip_code[:3]))


def states_for_zip(zip_code: str) -> tuple[str, ...]:
    """Every state a five-digit ZIP code serves, the one USPS names for it first: one state for
    nearly every ZIP, two for one whose area crosses a state line, none for ZIPs of no state."""
    state = state_for_zip(zip_code)
    if state is None:
        return ()
    return _ZIP_STATES.get(zip_code[:5], (state,))


def is_military_zip(zip_code: str) -> bool:
    """Whether a ZIP code is one of the armed forces' post offices abroad (APO, FPO, DPO)."""
    return len(zip_code) >= 3 and zip_code[:3].isdigit() and int(zip_code[:3]) in _MILITARY_PREFIXES


def timezone_for_state(state: str) -> str:
    """The state's most populous time zone."""
    return STATE_TIMEZONES.get(state, "America/New_York")


def timezones_for_state(state: str) -> tuple[str, ...]:
    """Every time zone a person in the state may be in, the most populous first."""
    other = STATE_OTHER_TIMEZONES.get(state)
    return (timezone_for_state(state), other) if other else (timezone_for_state(state),)
