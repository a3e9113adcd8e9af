"""The portal's fixed vocabularies that both doors and the services name: one declaration each,
free of any library so that reading one costs nothing at a cold start."""

# What a secure message is about (the request bodies offer these; the services check them).
MESSAGE_CATEGORIES = ("results_question", "prescription", "billing", "appointment", "other")
