"""CRM: partners and their keys and pickup places, customers, the messages sent to them."""
