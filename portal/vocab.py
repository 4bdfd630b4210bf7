"""The words of the domain: each vocabulary once, with what a person reads.

Codes are stored in the database; labels are translated on display.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Conduct(StrEnum):
    SHIRKING = "shirking"
    BUCK_PASSING = "buck_passing"
    SLOW_HANDLING = "slow_handling"
    OVERLAP = "overlap"
    OMISSION = "omission"
    HARASSMENT = "harassment"
    ATTITUDE = "attitude"
    OTHER = "other"


CONDUCT_LABELS = {
    Conduct.SHIRKING: _l("Shirking the work"),
    Conduct.BUCK_PASSING: _l("Passing the buck to another office"),
    Conduct.SLOW_HANDLING: _l("Slow handling, past the deadline"),
    Conduct.OVERLAP: _l("Overlapping duties between offices"),
    Conduct.OMISSION: _l("No office takes charge"),
    Conduct.HARASSMENT: _l("Harassment or causing trouble"),
    Conduct.ATTITUDE: _l("Attitude of the official"),
    Conduct.OTHER: _l("Other"),
}

CONDUCT_EXAMPLES = {
    Conduct.SHIRKING: _l("The ward office keeps saying 'come back next week' without looking at "
                         "your application."),
    Conduct.BUCK_PASSING: _l("The department sends you to the ward, and the ward sends you "
                             "back to the department."),
    Conduct.SLOW_HANDLING: _l("Your land-use certificate is weeks past the date on your receipt."),
    Conduct.OVERLAP: _l("Two offices both claim the inspection and each asks for its own papers."),
    Conduct.OMISSION: _l("Nobody will say which office is responsible for the broken drain."),
    Conduct.HARASSMENT: _l("An official asks for papers the law does not require, or for money."),
    Conduct.ATTITUDE: _l("An official is rude or refuses to explain a decision."),
    Conduct.OTHER: _l("Any other way an agency fails to do its work properly."),
}


class Sector(StrEnum):
    LAND = "land"
    INVESTMENT = "investment"
    CONSTRUCTION = "construction"
    JUSTICE = "justice"
    HEALTH = "health"
    EDUCATION = "education"
    TRANSPORT = "transport"
    ENVIRONMENT = "environment"
    SOCIAL_WELFARE = "social_welfare"
    BUSINESS_REGISTRATION = "business_registration"
    TAX_FINANCE = "tax_finance"
    CULTURE = "culture"
    OTHER = "other"


SECTOR_LABELS = {
    Sector.LAND: _l("Land"),
    Sector.INVESTMENT: _l("Investment"),
    Sector.CONSTRUCTION: _l("Construction"),
    Sector.JUSTICE: _l("Justice and civil status"),
    Sector.HEALTH: _l("Health"),
    Sector.EDUCATION: _l("Education"),
    Sector.TRANSPORT: _l("Transport"),
    Sector.ENVIRONMENT: _l("Environment"),
    Sector.SOCIAL_WELFARE: _l("Labour and social welfare"),
    Sector.BUSINESS_REGISTRATION: _l("Business registration"),
    Sector.TAX_FINANCE: _l("Finance and fees"),
    Sector.CULTURE: _l("Culture and tourism"),
    Sector.OTHER: _l("Other"),
}


class ReporterKind(StrEnum):
    RESIDENT = "resident"
    BUSINESS = "business"
    ORGANISATION = "organisation"


REPORTER_KIND_LABELS = {
    ReporterKind.RESIDENT: _l("Resident"),
    ReporterKind.BUSINESS: _l("Business"),
    ReporterKind.ORGANISATION: _l("Organisation"),
}


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"
    REJECTED = "rejected"
    MERGED = "merged"
    FORWARDED = "forwarded"
    IN_PROGRESS = "in_progress"
    TRANSFER_REQUESTED = "transfer_requested"
    ANSWERED = "answered"
    DISPUTED = "disputed"
    RESOLVED = "resolved"
    CLOSED = "closed"


STATUS_LABELS = {
    CaseStatus.SUBMITTED: _l("Received, awaiting review by the Front"),
    CaseStatus.NEEDS_INFO: _l("Waiting for more information from the reporter"),
    CaseStatus.REJECTED: _l("Not accepted"),
    CaseStatus.MERGED: _l("Merged with another report"),
    CaseStatus.FORWARDED: _l("Forwarded to the agency"),
    CaseStatus.IN_PROGRESS: _l("Being handled by the agency"),
    CaseStatus.TRANSFER_REQUESTED: _l("Agency asked to transfer it; the Front is deciding"),
    CaseStatus.ANSWERED: _l("Agency answered; the Front is reviewing the answer"),
    CaseStatus.DISPUTED: _l("The reporter disputes the answer; the Front is reviewing"),
    CaseStatus.RESOLVED: _l("Answer accepted; waiting for the reporter's rating"),
    CaseStatus.CLOSED: _l("Closed"),
}

OPEN_STATUSES = frozenset(CaseStatus) - {CaseStatus.REJECTED, CaseStatus.MERGED,
                                         CaseStatus.CLOSED}


class Role(StrEnum):
    MODERATOR = "moderator"
    SUPERVISOR = "supervisor"
    AGENCY_OFFICER = "agency_officer"
    AGENCY_HEAD = "agency_head"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.MODERATOR: _l("Front moderator"),
    Role.SUPERVISOR: _l("Front supervisor"),
    Role.AGENCY_OFFICER: _l("Agency officer"),
    Role.AGENCY_HEAD: _l("Agency head"),
    Role.ADMIN: _l("Administrator"),
}

FRONT_ROLES = frozenset({Role.MODERATOR, Role.SUPERVISOR})
AGENCY_ROLES = frozenset({Role.AGENCY_OFFICER, Role.AGENCY_HEAD})


class AgencyKind(StrEnum):
    CITY_COMMITTEE = "city_committee"
    DEPARTMENT = "department"
    CITY_BODY = "city_body"
    COMMUNE_COMMITTEE = "commune_committee"
    COMMUNE_BODY = "commune_body"


AGENCY_KIND_LABELS = {
    AgencyKind.CITY_COMMITTEE: _l("City People's Committee"),
    AgencyKind.DEPARTMENT: _l("City departments"),
    AgencyKind.CITY_BODY: _l("Other city bodies"),
    AgencyKind.COMMUNE_COMMITTEE: _l("Commune and ward People's Committees"),
    AgencyKind.COMMUNE_BODY: _l("Bodies of communes and wards"),
}


class DeadlineStage(StrEnum):
    TRIAGE = "triage"
    ACKNOWLEDGE = "acknowledge"
    ANSWER = "answer"
    RATING = "rating"


DEADLINE_STAGE_LABELS = {
    DeadlineStage.TRIAGE: _l("Review by the Front"),
    DeadlineStage.ACKNOWLEDGE: _l("Acknowledgement by the agency"),
    DeadlineStage.ANSWER: _l("Answer by the agency"),
    DeadlineStage.RATING: _l("Reporter's rating window"),
}

DEFAULT_DEADLINE_DAYS = {
    DeadlineStage.TRIAGE: 2,
    DeadlineStage.ACKNOWLEDGE: 3,
    DeadlineStage.ANSWER: 15,
    DeadlineStage.RATING: 10,
}


class Outcome(StrEnum):
    SUBSTANTIATED = "substantiated"
    PARTLY = "partly"
    NOT_SUBSTANTIATED = "not_substantiated"


OUTCOME_LABELS = {
    Outcome.SUBSTANTIATED: _l("Substantiated"),
    Outcome.PARTLY: _l("Partly substantiated"),
    Outcome.NOT_SUBSTANTIATED: _l("Not substantiated"),
}


class RejectReason(StrEnum):
    NOT_ABOUT_AN_AGENCY = "not_about_an_agency"
    OUTSIDE_HANOI = "outside_hanoi"
    ALREADY_IN_COURT = "already_in_court"
    INSUFFICIENT = "insufficient"
    ABUSIVE = "abusive"
    OTHER = "other"


REJECT_REASON_LABELS = {
    RejectReason.NOT_ABOUT_AN_AGENCY: _l("Not about the work of a public agency"),
    RejectReason.OUTSIDE_HANOI: _l("About an agency outside Hanoi"),
    RejectReason.ALREADY_IN_COURT: _l("Already before a court or another procedure"),
    RejectReason.INSUFFICIENT: _l("Not enough information to act on"),
    RejectReason.ABUSIVE: _l("Abusive or false"),
    RejectReason.OTHER: _l("Other reason"),
}


EVENT_LABELS = {
    "submit": _l("Report received"),
    "ask_info": _l("The Front asked the reporter for more information"),
    "provide_info": _l("The reporter answered the Front"),
    "reject": _l("The Front did not accept the report"),
    "merge": _l("Merged into another report about the same problem"),
    "absorb": _l("Another report about the same problem was merged into this one"),
    "forward": _l("The Front forwarded the case to the agency with its recommendation"),
    "refer_up": _l("Referred to the city Front committee"),
    "acknowledge": _l("The agency acknowledged the case"),
    "assign_officer": _l("The agency named the officer responsible"),
    "request_extension": _l("The agency asked for more time"),
    "request_transfer": _l("The agency said another agency is competent"),
    "approve_transfer": _l("The Front transferred the case to another agency"),
    "refuse_transfer": _l("The Front refused the transfer: the agency must handle the case"),
    "answer": _l("The agency answered; the Front is reviewing the answer"),
    "return_answer": _l("The Front returned the answer to the agency"),
    "accept_answer": _l("The Front accepted the agency's answer"),
    "uphold_answer": _l("The Front upheld the answer after the dispute"),
    "dispute": _l("The reporter said the problem is not solved"),
    "rate": _l("The reporter rated the result"),
    "close_unrated": _l("Closed: the rating window ended"),
    "escalate": _l("Deadline missed: escalated"),
    "redact": _l("Personal details removed from the text"),
    "view_identity": _l("Front staff viewed the reporter's identity"),
    "note": _l("Internal note"),
    "unpublish": _l("The Front took the published answer down"),
    "claim": _l("Taken by a Front staff member"),
    "release": _l("Released for another Front staff member"),
}

DEADLINE_STATE_LABELS = {
    "met": _l("met"),
    "missed": _l("missed"),
    "moved": _l("moved"),
    # Ended before its stage was done: another step took over (a transfer request, a closure).
    "interrupted": _l("interrupted"),
    "ended": _l("ended"),
    "running": _l("running"),
    "overdue": _l("overdue"),
}

# What the Front's buttons say.
ACTION_LABELS = {
    "note": _l("Add an internal note"),
    "ask_info": _l("Ask the reporter for information"),
    "reject": _l("Do not accept the report"),
    "merge": _l("Merge into another case"),
    "forward": _l("Forward to the agency"),
    "refer_up": _l("Refer up to the city Front committee"),
    "redact": _l("Remove personal details from the text"),
    "accept_answer": _l("Accept the answer"),
    "return_answer": _l("Return the answer to the agency"),
    "uphold_answer": _l("Uphold the answer"),
    "approve_transfer": _l("Approve the transfer"),
    "refuse_transfer": _l("Refuse the transfer"),
    "unpublish": _l("Take the published answer down"),
}

ACTOR_KIND_LABELS = {
    "reporter": _l("the reporter"),
    "system": _l("the portal"),
    "staff": _l("staff"),
}

# Short status names, for counts and tables where the full sentence does not fit.
STATUS_SHORT_LABELS = {
    CaseStatus.SUBMITTED: _l("New"),
    CaseStatus.NEEDS_INFO: _l("Waiting for the reporter"),
    CaseStatus.REJECTED: _l("Not accepted"),
    CaseStatus.MERGED: _l("Merged"),
    CaseStatus.FORWARDED: _l("Forwarded"),
    CaseStatus.IN_PROGRESS: _l("With the agency"),
    CaseStatus.TRANSFER_REQUESTED: _l("Transfer requested"),
    CaseStatus.ANSWERED: _l("Answer to review"),
    CaseStatus.DISPUTED: _l("Disputed"),
    CaseStatus.RESOLVED: _l("Resolved"),
    CaseStatus.CLOSED: _l("Closed"),
}

DECISION_LABELS = {
    "pending": _l("awaiting the Front's decision"),
    "approved": _l("approved"),
    "refused": _l("refused"),
    "accepted": _l("accepted"),
    "returned": _l("returned to the agency"),
}

# What the agency's buttons say.
AGENCY_ACTION_LABELS = {
    "acknowledge": _l("Acknowledge the case"),
    "assign_officer": _l("Name the officer responsible"),
    "request_extension": _l("Ask for more time"),
    "request_transfer": _l("Ask to transfer it to the competent agency"),
    "answer": _l("Send the answer to the Front"),
}
