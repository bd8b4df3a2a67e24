"""Shop facts: what the platform knows of a shop (guarantees, prices, stock, sales, which product each link is), and the checks of spoken promises and prices against them."""
