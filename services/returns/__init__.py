"""The returns service: the return and refund journey, its refund SLA and its escalations."""
