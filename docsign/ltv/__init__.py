"""Evidence that lasts: kept documents are extended to PAdES B-LT on receipt and to B-LTA before their
evidence runs out (docsign.ltv.service)."""
