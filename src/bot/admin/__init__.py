"""Admin commands for the people who run the bot: /stats, /job, /retry, /ban,
/unban and /broadcast, for ``ADMIN_IDS`` only, each recorded in the audit log.

Nothing is imported here on purpose: :mod:`bot.ports` imports
:mod:`bot.admin.records`, and the command modules import the ports.
"""
