"""What an instance costs: the On-Demand price out of the AWS Pricing API's answer."""

from __future__ import annotations

import json
from typing import Any


def on_demand_price(price_list: list[Any]) -> float | None:
    """USD per hour from a GetProducts PriceList (JSON strings). Bring-your-own-license
    products are skipped; if several remain, the highest: a cost shown never understates."""
    prices = []
    for item in price_list:
        product = json.loads(item) if isinstance(item, str) else item
        attributes = product.get("product", {}).get("attributes", {})
        if "bring your own" in str(attributes.get("licenseModel", "")).lower():
            continue
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd is not None and float(usd) > 0:
                    prices.append(float(usd))
    return max(prices) if prices else None
