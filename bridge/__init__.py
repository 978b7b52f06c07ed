"""segbridge: Adobe-Commerce-style customer segments for Magento Open Source."""

__version__ = "0.1.0"
