"""A Magento-2.4-compatible REST sandbox with generated data (demo, tests, benches).

Public API::

    from bridge.sandbox.server import SandboxServer, Faults

    with SandboxServer(customers=200, seed=1, orders_per_customer=2.0, active_carts=0.25,
                       port=0, faults=Faults(), merge_mode=True, repeat_last_page=False,
                       latency_s=0.0, token="sandbox-token") as s:
        s.base_url            # http://127.0.0.1:PORT ; REST root s.rest_url("all")
        s.token               # integration Bearer token
        s.oauth               # OAuthCredentials(consumer_key, consumer_secret,
                              #                  access_token, access_token_secret)
        s.admin_username, s.admin_password   # for POST /V1/integration/admin/token
        s.shop                # bridge.sandbox.shop.Shop: the data + mutation helpers
        s.stats               # .get(method, template), .total, .faults, .snapshot(), .reset()
        s.set_faults(Faults(rate_500=0.1, seed=3))
        s.merge_mode / s.repeat_last_page / s.max_page_size / s.latency_s  # switches
        # latency_s: an API answer leaves that long after its request came in, the time
        # to render it included (Faults.latency_s adds to it)

Faults fields (each ``rate_*`` a share of API requests, drawn from ``seed``):
``latency_s``, ``rate_429`` (+ ``retry_after_s`` / ``retry_after_date``), ``rate_503`` (HTML
maintenance page, + optional ``maintenance_retry_after_s``), ``rate_500`` (masked, with a
Report ID), ``rate_drop`` (socket closed, nothing done), ``rate_token_expiry`` (the admin
token in use dies), ``token_ttl_s`` / ``token_ttl_requests`` (admin token lifetime),
``rate_lost_answer`` (applied, then the answer is dropped), ``rate_edge_block`` (Cloudflare
HTML 403), ``poison_order_ids`` (order list pages holding them answer 500),
``poison_customer_ids`` (a PUT of these customers answers 500, every time), ``methods`` /
``routes`` (limit rate faults). ``Faults.only("500", 0.1, seed=1)`` sets one kind.

Routes: customers search/get/put/post/delete, customerGroups search/get/post/put/delete/
default/permissions, orders list/get, carts search/get/totals, store websites/storeViews/
storeGroups/storeConfigs, cmsBlock search/get/post/put/delete, salesRules search/get/post/
put/delete, coupons search/get/post/put/delete/generate, integration/admin/token — under
``/rest/all``, ``/rest/default`` (also ``/rest/V1``), ``/rest/se|no|dk|fi``.
The storefront module's routes (``module_routes.py``: segbridge/info, groupAssignments,
catalogRules, wishlistItems, productViews; data in ``shop.module``, ``module_state.py``)
unless ``SandboxServer(module=False)``.

Other constructor switches: ``max_page_size=300`` (None: no cap), ``admin_2fa``,
``admin_token_ttl_s``, ``integration_bearer`` (False: integration tokens refused as Bearer,
2.4.4+ default), ``denied_resources=("Magento_Cart::manage",)`` (ACL resources the
integration lacks: 401 naming the resource), ``oauth=OAuthCredentials(...)``, ``now``
(start of the shop clock, for reproducible data), ``tick`` (False: the clock only moves by
``advance``), ``shop=`` (serve an already generated Shop).

Shop mutation helpers (all bump ``updated_at`` as Magento does, on ``shop.clock``):
``update_customer(id, **fields)`` (``custom={code: value}``), ``add_customer(email, ...)``,
``delete_customer(id)``, ``set_address(id, address_id|None, **fields, default_billing=,
default_shipping=)`` and ``remove_address(id, address_id)`` (address-only: the customer's
updated_at is NOT bumped), ``add_order(customer_id|None, items=[(sku, qty[, price])],
status=)``, ``set_order_status(id, status)``, ``add_cart``, ``update_cart(id, items=|add=)``,
``convert_cart(id)``, ``delete_cart(id)``, ``touch(customers=0.01, orders=, carts=,
addresses=, seed=)``, ``clock.advance(seconds)``, ``now()``.

Control routes (no auth, never faulted or counted): ``GET /__sandbox/info``,
``GET|DELETE /__sandbox/stats``, ``POST /__sandbox/stats/reset``, ``GET|POST
/__sandbox/faults`` (Faults fields as JSON), ``POST /__sandbox/touch`` (touch() arguments),
``GET|POST /__sandbox/clock`` ({"advance": seconds}), ``POST /__sandbox/settings``
(merge_mode, repeat_last_page, max_page_size, latency_s), ``POST /__sandbox/expire-tokens``,
``POST /__sandbox/simulate`` ({"days", "uplift", "base_rate", "seed"}: play days of orders,
``simulate.py``; ``SandboxServer(simulate_days=N, uplift={"VIP": 0.2})`` starts the clock N
days back and sets the uplift it plays).

``python -m bridge.sandbox.perf`` measures generation and page latency.

Modules, each importing only those above it: ``errors``, ``model`` (records, tables, the
JSON encoder); ``criteria``, ``fields``, ``search`` (searchCriteria and ``fields=``);
``generator``, ``module_state``, ``simulate``; ``shop/`` (the shop's entities, see its
``__init__``); ``control`` (faults, stats, the ``/__sandbox/...`` controls); ``routes``,
``module_routes``; ``server``; ``command``, ``perf``.
"""
