"""Magento REST: the client, searchCriteria and paginator, retry policy, typed errors.

Usage::

    from bridge.magento.client import MagentoClient
    from bridge.magento.search import SearchCriteria

    client = MagentoClient(config.magento, read_only=False)
    crit = (SearchCriteria()
            .where("updated_at", "gteq", since)              # AND
            .where_any(("group_id", 1), ("group_id", 2))     # OR inside one group
            .order_by("updated_at", "ASC"))                  # entity_id tiebreaker added
    for customer in client.search_customers(crit):           # every page, 4 at a time
        ...
    page = client.fetch_page("customers", crit, page_size=200)   # one page + total_count
    client.stats.snapshot()                                  # requests, retries, by route

Errors are ``bridge.magento.errors.MagentoError`` subclasses with a stable ``kind``.
"""
