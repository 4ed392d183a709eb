"""I'mport's payment notices (webhooks), trusted only after asking I'mport."""
