"""The edge: routing rules shared with the CloudFront function (rules.py) and `cloudpypi serve`."""
