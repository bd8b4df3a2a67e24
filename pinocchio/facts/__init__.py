"""Shop facts: what the platform knows of a shop (guarantees, prices and their history, stock,
sales, which product each link of a stream is), the promises and prices a streamer says, and the
checks of one against the other. Imports only `core` and `store`; the detector takes a stream's
facts stage through `listen.detect.PromiseChecker`, so the listening side never imports it."""
