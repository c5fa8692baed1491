"""The data gateway a grantor agency runs in front of its datasets: it checks grants on chain,
delivers marked copies and writes the trail itself (docs/gateway.md)."""
