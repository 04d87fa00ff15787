"""Rate cards, charges to partners, and cash collected on delivery."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.db import Base, UTCDateTime


class RateCard(Base):
    """One version of a rate card: what a service level costs in a currency from a date,
    by zone and weight band, with surcharges and VAT (``billing.rating``). Never edited:
    a change is a new version from a later date. ``partner_id`` set: a partner's contract
    card, which overrides the default card from its date."""

    __tablename__ = "rate_cards"
    __table_args__ = (
        Index("uq_rate_cards_default", "service_level", "currency", "effective_from", unique=True,
              sqlite_where=text("partner_id IS NULL"), postgresql_where=text("partner_id IS NULL")),
        Index("uq_rate_cards_contract", "partner_id", "service_level", "currency", "effective_from", unique=True,
              sqlite_where=text("partner_id IS NOT NULL"), postgresql_where=text("partner_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(120), default="")
    service_level: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date] = mapped_column(Date)
    #: Zones (distance bands) with weight bands and an amount per kg over the last band;
    #: hub pairs priced as a zone; an amount per km (``rating.check_tariff``).
    tariff: Mapped[dict] = mapped_column(JSON)
    #: All amounts in minor units of ``currency``; rates in basis points (1 % = 100).
    return_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_attempt_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    cod_fee_bp: Mapped[int] = mapped_column(Integer, default=0)
    cod_fee_min: Mapped[int] = mapped_column(BigInteger, default=0)
    remote_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: A drop-off farther than this from its delivering hub pays ``remote_amount``.
    remote_beyond_km: Mapped[float | None] = mapped_column(Float)
    insurance_bp: Mapped[int] = mapped_column(Integer, default=0)
    vat_bp: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class FuelSurcharge(Base):
    """The fuel surcharge from a date (a percentage of the freight, set monthly for the
    whole network). A new rate is a new row; none is changed."""

    __tablename__ = "fuel_surcharges"

    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Charge(Base):
    """A fee owed by a partner for one shipment: delivery, return, failed attempts.
    Corrections are new rows."""

    __tablename__ = "charges"
    #: A shipment is charged each kind of fee once, whatever redelivers the job; finance's
    #: adjustments (corrections before or after invoicing) are as many as it makes.
    __table_args__ = (Index("uq_charges_fee", "shipment_id", "kind", unique=True,
                            sqlite_where=text("kind <> 'adjustment'"),
                            postgresql_where=text("kind <> 'adjustment'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    #: delivery_fee, return_fee, failed_attempt_fee, or adjustment (by finance, with a reason).
    kind: Mapped[str] = mapped_column(String(20))
    #: What the partner pays, VAT included.
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The VAT in ``amount`` (the rest is the lines of the breakdown).
    vat_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    rate_card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"))
    #: How the amount was reached (``rating.Rate.breakdown``): card, zone, lines, VAT.
    breakdown: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: The invoice it is billed on: set once, by the invoice run (never two invoices).
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)


class DocumentSeries(Base):
    """The next number of a series of documents in a year (INV-2026-000042): locked while
    a run numbers its documents, so numbers have no gap and no duplicate."""

    __tablename__ = "document_series"

    series: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, default=1)


class Invoice(Base):
    """An invoice to a partner for a period's charges, or a credit note correcting one
    (``kind``, ``corrects_id``). Issued once, numbered without gaps; never changed but for
    what is paid (kept by its allocations) and when it was e-mailed."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "INV-2026-000042" or "CN-2026-000003".
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: "invoice" or "credit_note".
    kind: Mapped[str] = mapped_column(String(12), default="invoice")
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    #: Minor units; a credit note's are positive too (it is a credit by its kind).
    net_amount: Mapped[int] = mapped_column(BigInteger)
    vat_amount: Mapped[int] = mapped_column(BigInteger)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    #: A credit note: the invoice it corrects, and why.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InvoiceLine(Base):
    """A line of an invoice: the period's charges of one kind (freight, COD fee, returns,
    ...), with how many shipments it covers. Every shipment is in the invoice's CSV."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(4))


class Payment(Base):
    """Money a partner paid Waybill (a bank transfer), recorded by hand or imported from a
    bank statement; allocated to its invoices."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: The bank's reference or the transfer's description.
    reference: Mapped[str] = mapped_column(String(200), default="")
    #: "manual" or "bank_import".
    source: Mapped[str] = mapped_column(String(12), default="manual")
    #: A bank statement line imported once: a hash of its date, amount and reference.
    bank_line: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class PaymentAllocation(Base):
    """Part of a payment (or of a remittance's netting) settling an invoice."""

    __tablename__ = "payment_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    #: A credit note applied to the invoice it corrects.
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    #: A COD remittance that netted the invoice (the partner agreed to netting).
    remittance_id: Mapped[int | None] = mapped_column(ForeignKey("remittances.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class CodCollection(Base):
    """Cash on delivery taken by a driver for one shipment, owed to the partner."""

    __tablename__ = "cod_collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    amount_collected: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(20))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: The driver's word when the cash taken is not the amount due.
    difference_reason: Mapped[str | None] = mapped_column(String(200))
    #: A short or over payment stays open (and its shipment unclosed) until finance
    #: settles it, once, saying how.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    settlement_note: Mapped[str | None] = mapped_column(String(500))
    #: What the settlement decided (``posting.SETTLEMENTS``): who bears the difference.
    settlement_outcome: Mapped[str | None] = mapped_column(String(20))
    #: The remittance that paid it to the partner: set once (never remitted twice).
    remittance_id: Mapped[int | None] = mapped_column(ForeignKey("remittances.id"), index=True)

    @property
    def difference(self) -> int:
        """Collected less due (negative: short)."""
        return self.amount_collected - self.amount_due

    @property
    def open_difference(self) -> bool:
        return self.difference != 0 and self.settled_at is None


class Claim(Base):
    """What Waybill owes a partner for a parcel declared lost or damaged: its declared
    value, a liability from the day it is declared until the claims flow settles it."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    #: "lost" or "damaged".
    kind: Mapped[str] = mapped_column(String(10))
    #: The declared value, minor units of ``currency`` (0 when none was declared).
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(500))
    #: A photo of the damage or of the search, under WAYBILL_PHOTO_DIR.
    evidence_ref: Mapped[str | None] = mapped_column(String(255))
    #: open, accepted (owed: posted), paid (posted), rejected.
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: What Waybill agreed to pay (at most the declared value), and when; the case it came from.
    accepted_amount: Mapped[int | None] = mapped_column(BigInteger)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: When it left the bank, and the bank's reference.
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_reference: Mapped[str | None] = mapped_column(String(100))
    rejected_reason: Mapped[str | None] = mapped_column(String(300))


class CashHandover(Base):
    """A driver's cash on delivery handed over at the hub (one or more a day).

    The driver declares what they hand over against what their deliveries say they took
    (``expected_amount``); a hub operator counts it and records what was received. The
    difference stays as recorded: a confirmed handover is never changed."""

    __tablename__ = "cash_handovers"
    #: Several handovers a day (cash from later deliveries after a count), one open at a time.
    __table_args__ = (Index("uq_cash_handovers_open", "driver_id", "run_date", "currency", unique=True,
                            sqlite_where=text("received_at IS NULL"), postgresql_where=text("received_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    #: Minor units: what the day's proofs of delivery say was taken.
    expected_amount: Mapped[int] = mapped_column(BigInteger)
    declared_amount: Mapped[int] = mapped_column(BigInteger)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Set once, by the hub operator who counted it.
    received_amount: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    #: The bank deposit that took this cash from the hub: set once.
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("cash_deposits.id"), index=True)

    @property
    def difference(self) -> int | None:
        """Received less expected (negative: short)."""
        return None if self.received_amount is None else self.received_amount - self.expected_amount


class CashDeposit(Base):
    """A hub's cash taken to the bank: the counted handovers it covers (a deposit slip)."""

    __tablename__ = "cash_deposits"

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    deposited_on: Mapped[date] = mapped_column(Date)
    #: The bank's slip or transaction reference.
    bank_reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ProviderPayout(Base):
    """A card acquirer or transfer provider paid the COD it held into Waybill's bank."""

    __tablename__ = "provider_payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``posting.PROVIDERS``: 1 card acquirer, 2 bank transfers.
    provider_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DriverSettlement(Base):
    """A driver's shortage settled: repaid (into the bank, or kept from their pay) or
    written off. Until then it is a balance the driver owes (1310)."""

    __tablename__ = "driver_settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: "repaid" or "written_off".
    how: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Remittance(Base):
    """COD paid on to a partner: the collections it covers (each once), the open invoices
    netted from it when the partner agreed, and the payout. Approved when made (the
    statement and the payout file), paid once the bank confirms."""

    __tablename__ = "remittances"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "REM-2026-000042".
    number: Mapped[str] = mapped_column(String(20), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    #: COD of the deliveries made up to this day (the partner's T+N cycle).
    delivered_until: Mapped[date] = mapped_column(Date)
    shipments: Mapped[int] = mapped_column(Integer)
    cod_amount: Mapped[int] = mapped_column(BigInteger)
    netted_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    payout_amount: Mapped[int] = mapped_column(BigInteger)
    #: "approved" until the bank confirms the payout, then "paid".
    status: Mapped[str] = mapped_column(String(10), default="approved")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    bank_reference: Mapped[str | None] = mapped_column(String(100))


# -- the general ledger (services in app/billing/ledger.py) ------------------------------

class JournalEntry(Base):
    __tablename__ = "journal_entries"
    #: One entry per source and posting rule: an event posted twice posts once.
    __table_args__ = (UniqueConstraint("source_type", "source_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_date: Mapped[date] = mapped_column(Date)
    #: The accounting month, YYYY-MM, of ``entry_date``.
    period: Mapped[str] = mapped_column(String(7), index=True)
    #: What the entry records: e.g. ("charge", "42"), ("journal_entry", "7") for a reversal.
    source_type: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(64))
    #: The posting rule that made it (e.g. "fee_charged", "reversal").
    rule: Mapped[str] = mapped_column(String(40))
    memo: Mapped[str] = mapped_column(String(300), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    actor: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Set once its lines are in; the database refuses it unless they balance, and
    #: refuses any change after it.
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JournalLine(Base):
    __tablename__ = "journal_lines"
    __table_args__ = (Index("ix_journal_lines_account", "account", "currency"),
                      Index("ix_journal_lines_party", "party_type", "party_id"),
                      # The reports' reads: a party's lines by day (statements, ledgers),
                      # every line by day (the trial balance after the last closed month).
                      Index("ix_journal_lines_party_date", "party_type", "party_id", "entry_date",
                            postgresql_include=["account", "currency", "amount", "rule", "entry_id"]),
                      Index("ix_journal_lines_date", "entry_date",
                            postgresql_include=["account", "currency", "amount"]))

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    #: The entry's date and rule, kept on each line (they never change) so that reports
    #: read lines alone. Empty only on lines written before migration 0016 filled them.
    entry_date: Mapped[date | None] = mapped_column(Date)
    rule: Mapped[str | None] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(4))
    party_type: Mapped[str | None] = mapped_column(String(20))
    party_id: Mapped[int | None] = mapped_column()
    #: Minor units; a debit is positive, a credit negative.
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class AccountingPeriod(Base):
    """A month of the books, ``YYYY-MM`` in the network's zone. Open until closed; the
    database refuses an entry dated in a closed one (a correction goes to the open period).
    A row exists from the first entry of the month (PostgreSQL's trigger makes it) or when
    the month is closed."""

    __tablename__ = "accounting_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: What the close found: its checks and the trial balance, as shown in its report.
    close_report: Mapped[dict | None] = mapped_column(JSON)
    #: The last reopening (the audit log keeps every one).
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_reason: Mapped[str | None] = mapped_column(String(300))


class PeriodBalance(Base):
    """The books at the end of a closed month: each account's balance per party and
    currency, written by the close (and dropped if the month is reopened). Reports start
    from the last closed month's balances and add the lines after it."""

    __tablename__ = "period_balances"
    __table_args__ = (Index("ix_period_balances_party", "party_type", "party_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    account: Mapped[str] = mapped_column(String(4))
    party_type: Mapped[str | None] = mapped_column(String(20))
    party_id: Mapped[int | None] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger)


REFUSED = "journal entries and their lines are append-only"
CLOSED = "is closed: post the correction in the open period"
UNBALANCED = "a journal entry must balance in every currency"

#: The database's own checks, the same rules on both backends (migrations create them too).
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER journal_entry_seal BEFORE UPDATE ON journal_entries
WHEN OLD.sealed_at IS NULL AND NEW.sealed_at IS NOT NULL BEGIN
  SELECT RAISE(ABORT, '{UNBALANCED}') WHERE NOT EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id)
    OR EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id GROUP BY currency HAVING sum(amount) != 0);
END""",
    f"""CREATE TRIGGER journal_entry_frozen BEFORE UPDATE ON journal_entries
WHEN OLD.sealed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER journal_entry_kept BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER journal_line_added BEFORE INSERT ON journal_lines
WHEN (SELECT sealed_at FROM journal_entries WHERE id = NEW.entry_id) IS NOT NULL
BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER journal_line_changed BEFORE UPDATE ON journal_lines
BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER journal_line_kept BEFORE DELETE ON journal_lines
BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
)
POSTGRESQL_TRIGGERS = (
    f"""CREATE FUNCTION journal_entry_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR OLD.sealed_at IS NOT NULL THEN
    RAISE EXCEPTION '{REFUSED}';
  END IF;
  IF NEW.sealed_at IS NOT NULL AND (
      NOT EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id)
      OR EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id GROUP BY currency HAVING sum(amount) <> 0)) THEN
    RAISE EXCEPTION '{UNBALANCED}';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER journal_entry_check BEFORE UPDATE OR DELETE ON journal_entries
FOR EACH ROW EXECUTE FUNCTION journal_entry_check()""",
    f"""CREATE FUNCTION journal_line_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' OR (SELECT sealed_at FROM journal_entries WHERE id = NEW.entry_id) IS NOT NULL THEN
    RAISE EXCEPTION '{REFUSED}';
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER journal_line_check BEFORE INSERT OR UPDATE OR DELETE ON journal_lines
FOR EACH ROW EXECUTE FUNCTION journal_line_check()""",
)

#: A closed period takes no entry. On PostgreSQL the entry takes its period's row
#: FOR SHARE (making the row if the month has none yet), so an entry being posted while
#: the month is closed waits for the close and is then refused; the close waits for the
#: postings in flight. SQLite runs one writer at a time.
SQLITE_PERIOD_TRIGGERS = (
    f"""CREATE TRIGGER journal_entry_period BEFORE INSERT ON journal_entries
WHEN EXISTS (SELECT 1 FROM accounting_periods WHERE period = NEW.period AND closed_at IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'the period {CLOSED}'); END""",
)
POSTGRESQL_PERIOD_TRIGGERS = (
    f"""CREATE FUNCTION journal_entry_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE closed timestamp;
BEGIN
  INSERT INTO accounting_periods (period) VALUES (NEW.period) ON CONFLICT DO NOTHING;
  SELECT closed_at INTO closed FROM accounting_periods WHERE period = NEW.period FOR SHARE;
  IF closed IS NOT NULL THEN
    RAISE EXCEPTION 'period % {CLOSED}', NEW.period;
  END IF;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER journal_entry_period BEFORE INSERT ON journal_entries
FOR EACH ROW EXECUTE FUNCTION journal_entry_period()""",
)

for sql_ in SQLITE_TRIGGERS:
    event.listen(JournalLine.__table__, "after_create", DDL(sql_).execute_if(dialect="sqlite"))
for sql_ in POSTGRESQL_TRIGGERS:
    event.listen(JournalLine.__table__, "after_create", DDL(sql_).execute_if(dialect="postgresql"))
for sql_ in SQLITE_PERIOD_TRIGGERS:
    event.listen(Base.metadata, "after_create", DDL(sql_).execute_if(dialect="sqlite"))
for sql_ in POSTGRESQL_PERIOD_TRIGGERS:  # DDL formats with %: RAISE's placeholder is doubled
    event.listen(Base.metadata, "after_create", DDL(sql_.replace("%", "%%")).execute_if(dialect="postgresql"))
