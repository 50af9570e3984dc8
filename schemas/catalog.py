"""Which topics exist, what each carries, what its key is, and where each schema file lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import records as r

SCHEMA_DIR = Path(__file__).resolve().parent
VERSION = 1


@dataclass(frozen=True, slots=True)
class InputTopic:
    """An input topic of the contract (name without the configured prefix)."""

    name: str
    key_field: str
    records: tuple[type[r.InputEvent], ...]
    compacted: bool = False

    @property
    def union(self) -> Any:
        """The tagged union msgspec decodes this topic's values into."""
        union: Any = self.records[0]
        for record in self.records[1:]:
            union = union | record
        return union

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(str(rec.__struct_config__.tag) for rec in self.records)


@dataclass(frozen=True, slots=True)
class OutputTopic:
    name: str
    key_field: str
    record: type[r.Output]
    schema_name: str
    compacted: bool = False


# The engagement kinds the contract names (`engagement.recorded.kind`); a rules file declares
# any other kind its CRM sends in `engagement_kinds`.
ENGAGEMENT_KINDS: tuple[str, ...] = (
    "email_open",
    "email_click",
    "page_view",
    "demo_request",
    "quote_request",
    "sample_order",
    "trial_completed",
    "list_signup",
    "email_reply",
)

INPUT_TOPICS: tuple[InputTopic, ...] = (
    InputTopic("crm.contacts", "contact_id", (r.ContactUpserted, r.ContactDeleted)),
    InputTopic(
        "crm.organizations", "organization_id", (r.OrganizationUpserted, r.OrganizationDeleted)
    ),
    InputTopic("crm.form-submissions", "contact_id", (r.FormSubmitted,)),
    InputTopic("crm.engagements", "contact_id", (r.EngagementRecorded,)),
    InputTopic(
        "crm.opportunities",
        "opportunity_id",
        (
            r.OpportunityUpserted,
            r.OpportunityStageChanged,
            r.OpportunityClosed,
            r.OpportunityDeleted,
        ),
    ),
    InputTopic("crm.reps", "rep_id", (r.RepUpserted, r.RepDeleted), compacted=True),
    InputTopic(
        "crm.rep-activities", "contact_id", (r.LeadAccepted, r.LeadContacted, r.LeadRejected)
    ),
)

OUTPUT_TOPICS: tuple[OutputTopic, ...] = (
    OutputTopic("crm.trigger-firings", "opportunity_id", r.TriggerFiring, "trigger-firing"),
    OutputTopic("crm.lead-scores", "contact_id", r.LeadScore, "lead-score"),
    OutputTopic("crm.lead-assignments", "contact_id", r.LeadAssignment, "lead-assignment"),
    OutputTopic("crm.owner-changes", "opportunity_id", r.OwnerChange, "owner-change"),
    OutputTopic("crm.stage-moves", "opportunity_id", r.StageMove, "stage-move"),
    OutputTopic("crm.rep-notifications", "rep_id", r.RepNotification, "rep-notification"),
    OutputTopic("crm.dead-letters", "key", r.DeadLetter, "dead-letter"),
)

INPUTS_BY_NAME = {t.name: t for t in INPUT_TOPICS}
OUTPUTS_BY_NAME = {t.name: t for t in OUTPUT_TOPICS}


def schema_path(name: str) -> Path:
    """Path of a schema file: `name` is an event type (`contact.upserted`) or output name."""
    return SCHEMA_DIR / f"{name}.v{VERSION}.json"
