"""The reviewer workspace: queues, claims, need-to-know access, timeline, decisions."""
