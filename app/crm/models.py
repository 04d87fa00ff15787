"""Accounts (partners: retailers) with their contacts, API keys and pickup locations; end
customers; the notifications sent to them; activities on any record; customer-service
cases and their threads."""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.db import Base, UTCDateTime


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: ISO 4217 code in which this partner is charged and COD is remitted.
    currency: Mapped[str] = mapped_column(String(3))
    #: True while its API keys work and orders are taken: the status is onboarding or active.
    active: Mapped[bool] = mapped_column(default=True)
    #: prospect, onboarding, active, paused, churned (``accounts.STATUSES``).
    status: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    #: The account manager who owns the account. (Added after both tables exist: users
    #: also point at partners.)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))
    #: Where Waybill writes to the partner's engineers (a webhook endpoint disabled, ...).
    contact_email: Mapped[str | None] = mapped_column(String(254))
    #: The customer must tell the driver a one-time code (sent with "out for delivery").
    delivery_code_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # -- billing: what invoices and remittances need ----------------------------------------
    legal_name: Mapped[str | None] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(30))
    billing_address: Mapped[str | None] = mapped_column(String(300))
    #: Where invoices and remittance statements are e-mailed (else ``contact_email``).
    billing_email: Mapped[str | None] = mapped_column(String(254))
    #: "monthly" or "weekly": how often the partner is invoiced.
    billing_cycle: Mapped[str] = mapped_column(String(10), default="monthly", server_default="monthly")
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    #: COD is remitted this many days after delivery (T+2).
    remittance_days: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    #: The partner agreed to have its open invoices netted from its COD remittances.
    net_cod_against_invoices: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: The partner's bank account for remittances (name, number, bank).
    bank_account: Mapped[str | None] = mapped_column(String(200))

    pickup_locations: Mapped[list["PickupLocation"]] = relationship(back_populates="partner")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    #: The first characters of the key, shown in lists so a key can be recognised.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: SHA-256 of the whole key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PickupLocation(Base):
    """A place where a partner hands parcels to the courier."""

    __tablename__ = "pickup_locations"
    __table_args__ = (UniqueConstraint("partner_id", "address_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    #: Normalised address text, so an address sent again finds the same location.
    address_key: Mapped[str] = mapped_column(String(400))
    #: The window in which parcels are ready to collect, local time.
    ready_from: Mapped[time] = mapped_column(Time, default=time(9), server_default="09:00:00")
    ready_until: Mapped[time] = mapped_column(Time, default=time(17), server_default="17:00:00")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    partner: Mapped[Partner] = relationship(back_populates="pickup_locations")
    address = relationship("Address")


class Customer(Base):
    """An end customer, one per person across partners: known by phone number (E.164),
    found by e-mail too; two records of one person are merged (``merged_into_id``), never
    deleted, so that a merge can be undone."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: E.164 (``phonenumbers``), e.g. +84903123456.
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    notify_email: Mapped[bool] = mapped_column(default=True)
    notify_sms: Mapped[bool] = mapped_column(default=True)
    #: "vi" or "en": the language of their messages and pages (None: the network's).
    language: Mapped[str | None] = mapped_column(String(5))
    #: For the driver: how to find the door, where to leave a parcel, when they are in.
    instructions: Mapped[str | None] = mapped_column(String(300))
    safe_place: Mapped[str | None] = mapped_column(String(200))
    #: morning, afternoon, evening (None: any time).
    preferred_time: Mapped[str | None] = mapped_column(String(10))
    #: They agreed to hear of offers (campaigns); when they said so either way.
    marketing_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    consent_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: They asked for no messages at all (only the one carrying a delivery code still goes).
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: This record is the same person as that one (a merge); it stays for the undo.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class CustomerMerge(Base):
    """One merge of a customer record into another, and its undoing (rows are only added
    to and closed, never deleted)."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Notification(Base):
    """One message to a customer about one shipment event on one channel.

    Written before it is sent (the intent, with the id the carrier will see), claimed by a
    sender for a lease, marked sent in a commit of its own once the carrier took it. A
    sender that dies mid-send leaves the claim to expire; the message then goes again
    with the same id, so a carrier that keeps ids (Message-ID, a client reference) can
    tell the repeat."""

    __tablename__ = "notifications"
    #: One message per event and channel: a redelivered job finds it and writes nothing.
    __table_args__ = (
        UniqueConstraint("event_id", "channel"),
        Index("ix_notifications_due", "next_attempt_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("shipment_events.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    milestone: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    #: pending (to send), sent, failed (given up after the last attempt).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    #: Who carried it: "smtp", "log", or an SMS gateway's name; set when sent.
    provider: Mapped[str | None] = mapped_column(String(40))
    #: The id the carrier sees, fixed before the first try and the same in every retry.
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A sender holds the message until then; after it, another may send it (again).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Contact(Base):
    """One of an account's people: what they do for it and which messages they get."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    #: E.164.
    phone: Mapped[str | None] = mapped_column(String(32))
    #: Some of billing, operations, technical, escalation (``accounts.CONTACT_ROLES``).
    roles: Mapped[list] = mapped_column(JSON, default=list)
    #: Some of invoices, remittances, webhook_alerts, cases, reports (``accounts.SUBSCRIPTIONS``):
    #: what Waybill e-mails this person.
    subscriptions: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Activity(Base):
    """A call, e-mail, meeting, note or task on an account, lead, case or customer: with
    the orders, cases and messages it makes the record's timeline."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_subject", "subject_type", "subject_id"),
                      Index("ix_activities_open_tasks", "owner_id", "due_at",
                            sqlite_where=text("kind = 'task' AND done_at IS NULL"),
                            postgresql_where=text("kind = 'task' AND done_at IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: partner, lead, case or customer.
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int]
    #: call, email, meeting, note, task.
    kind: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(String(4000))
    #: A task's due moment and owner; a task is open until done.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the owner was reminded of the task (once).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Case(Base):
    """A customer-service case: a problem with a shipment, an account or a customer,
    followed from report to resolution under a service-level agreement."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_queue_open", "queue", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: damaged, lost, late, wrong_address, cod_dispute, failed_delivery, return_request, feedback.
    type: Mapped[str] = mapped_column(String(20))
    #: new, open, waiting, resolved, closed.
    status: Mapped[str] = mapped_column(String(10), default="new")
    #: low, normal, high, urgent: sets the SLA's targets.
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    #: The team that works it: customer_service, claims, finance.
    queue: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    #: staff, portal, api, tracking (the customer), auto (an event).
    opened_via: Mapped[str] = mapped_column(String(10))
    #: What opened an automatic case ("event:<shipment>:<seq>", "late:<shipment>"): one case each.
    trigger: Mapped[str | None] = mapped_column(String(60), unique=True)
    #: The reporter's name and e-mail when it is not a known contact or customer.
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    # -- the SLA: due moments in business time; a case waiting on someone pauses its clock.
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Business seconds that were left to resolve it when it began waiting.
    paused_seconds_left: Mapped[int | None] = mapped_column(BigInteger)
    #: When the owner was warned that a target was near (once per target).
    response_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: compensation, claim, reschedule, reroute, redelivery, explained (``cases.OUTCOMES``).
    outcome: Mapped[str | None] = mapped_column(String(20))
    #: What the outcome did: the credit note's number, the new day, the amount, ...
    outcome_details: Mapped[dict | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class CaseMessage(Base):
    """One entry of a case's thread: an internal note, an e-mail to the customer or the
    partner (sent through the outbox), a reply received, or a change of status."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: note, to_customer, to_partner, from_customer, from_partner, status, warning.
    kind: Mapped[str] = mapped_column(String(14))
    body: Mapped[str] = mapped_column(String(4000))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Kept as written at the time: a staff member's, a partner user's or a customer's name.
    author_name: Mapped[str] = mapped_column(String(200))
    #: Where an e-mail goes, and when the carrier took it.
    recipient: Mapped[str | None] = mapped_column(String(254))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Lead(Base):
    """A company that may ship with us, from first contact to won (an account with a
    contract) or lost (with why)."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_stage", "stage", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    #: E.164.
    phone: Mapped[str | None] = mapped_column(String(32))
    #: web (the "ship with us" form), import, manual.
    source: Mapped[str] = mapped_column(String(10))
    #: new, qualified, proposal, negotiation, won, lost (``pipeline.STAGES``).
    stage: Mapped[str] = mapped_column(String(12), default="new")
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: What they ship: parcels a month, their usual weight, service and cash on delivery.
    monthly_parcels: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    typical_grams: Mapped[int] = mapped_column(Integer, default=1000, server_default="1000")
    service_level: Mapped[str] = mapped_column(String(20), default="standard", server_default="standard")
    typical_cod: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: Where their parcels are picked up (text, located when they are onboarded).
    pickup_address: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(String(2000))
    #: The offer (proposal): a draft contract card and its quote for the typical parcel.
    offer: Mapped[dict | None] = mapped_column(JSON)
    #: Expected revenue a month (minor units of ``currency``): the offer's price x parcels.
    value_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="VND", server_default="VND")
    #: The account it became (won).
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class LeadStageChange(Base):
    """A lead moved from one stage to another: the funnel's conversions are counted from these."""

    __tablename__ = "lead_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(12))
    to_stage: Mapped[str] = mapped_column(String(12))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)


class CsatResponse(Base):
    """A customer's score (1-5) of a delivery, from the link in the "delivered" message:
    one per shipment (answering again changes it)."""

    __tablename__ = "csat_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (Index("ix_csat_partner_created", "partner_id", "created_at"),)


class MessageTemplate(Base):
    """The wording of one customer message: per event, channel, language and partner
    (none: the network's); Jinja text rendered in a sandbox (``crm.wording``)."""

    __tablename__ = "message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "event:channel:language:partner id (0: the network's)": one template each.
    key: Mapped[str] = mapped_column(String(60), unique=True)
    event: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(5))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(default=True)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Campaign(Base):
    """A message to a segment of customers (or the contacts of accounts), sent from a
    moment on through the outbox, honouring opt-out and consent."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: sms or email.
    channel: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str | None] = mapped_column(String(200))
    #: Jinja text (``crm.wording`` sandbox): ``{{ name }}``, ``{{ unsubscribe_link }}``.
    body: Mapped[str] = mapped_column(String(2000))
    #: Who gets it (``campaigns.SEGMENT_RULES``): hubs, volume, last shipment, language.
    segment: Mapped[dict] = mapped_column(JSON, default=dict)
    #: draft, scheduled, queuing, sending, done, cancelled.
    status: Mapped[str] = mapped_column(String(10), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Customers queued so far (the next chunk starts after this id).
    queued_through: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignMessage(Base):
    """One customer's message of a campaign: written once (unique per campaign and
    customer), claimed by a sender for a hold, marked sent in a commit of its own."""

    __tablename__ = "campaign_messages"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),
                      Index("ix_campaign_messages_due", "campaign_id", "id",
                            sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    recipient: Mapped[str | None] = mapped_column(String(254))
    #: pending, sent, failed, opted_out (matched, but asked for nothing or gave no consent).
    status: Mapped[str] = mapped_column(String(10))
    #: The id the carrier sees: the same in every try.
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
