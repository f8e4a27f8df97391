"""`dali-worker demo`: the parts it starts (``session``) and what it prints (``report``)."""
