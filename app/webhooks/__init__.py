"""Outbound webhooks: partners' endpoints, the events they hear about, and deliveries
signed per the Standard Webhooks specification, retried for about three days."""
