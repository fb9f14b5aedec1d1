"""Costs: AWS spend and budgets (aws.py), the mirror's own cost model (model.py, pure), prices from
data/prices.json (prices.py), usage read from sync reports and status (usage.py), the combined check
(check.py) and its presentation (render.py).  ``cloudpypi costs`` is the command over all of them."""

from cloudpypi.costs.model import CostEstimate, CostLine, MirrorUsage, forecast_mirror_cost, monthly_cost
from cloudpypi.costs.prices import Prices, load_prices

__all__ = ["CostEstimate", "CostLine", "MirrorUsage", "Prices", "forecast_mirror_cost", "load_prices",
           "monthly_cost"]
