"""Values the generator writes into flows, and how each parameter is filled (its role).

Values are short on purpose: the flows must stay around 60 SmolLM2 tokens at the median to be
trainable on a 2-core CPU. Every literal value also appears verbatim in the request text, so a
model can copy it (the generator checks this for every pair).
"""

from __future__ import annotations

from typing import Literal

from dsl.languages.workflow_catalog import Operation, Param

Role = Literal["id", "enum", "bool", "object", "list", "person", "datetime", "url", "number", "text",
               "query", "entity"]

# Parameters that name an existing thing: filled from an earlier output of the same connector
# (`outlook.flag_email(id: trigger.id)`), else from LITERAL_IDS, else the operation is skipped.
ID_PARAMS = {"id", "key", "number", "row", "contact", "deal", "invoice", "page", "thread", "vehicle",
             "customer", "vendor", "item"}
ID_SOURCE_FIELD = {"key": "key", "number": "number"}  # others read the record's `id`
LITERAL_IDS: dict[str, list[str] | list[int]] = {
    "jira.key": ["OPS-142", "WEB-87", "IT-311", "SUP-905", "DATA-23"],
    "github.number": [12, 42, 87, 113, 256],
    "servicenow.number": ["INC0010042", "INC0020117", "INC0031006"],
    "google_sheets.row": [2, 5, 12, 30],
    "stripe.customer": ["cus_1042", "cus_2231", "cus_3390"],
    "quickbooks.customer": ["Acme", "Globex", "Initech", "Northwind"],
    "quickbooks.invoice": ["INV-1042", "INV-2210", "INV-3307"],
    "shopify.item": ["SKU-1001", "SKU-2042", "TSHIRT-M"],
    "contoso_erp.vendor": ["V-1001", "V-2200", "V-3301"],
    "contoso_erp.number": ["PO-4501", "PO-4533", "PO-4610"],
    "contoso_fleet.vehicle": ["VH-203", "VH-118", "VH-340"],
    "hubspot.contact": ["C-501", "C-734"],
    "pipedrive.deal": ["D-88", "D-142"],
}
TEXT_PARAMS = {"text", "body", "subject", "title", "summary", "description", "comment", "comments", "notes",
               "message", "content", "details", "reason", "topic", "short_description", "key", "value"}
ROLE_OVERRIDES: dict[str, Role] = {"excel.key": "text", "google_sheets.value": "text"}
QUERY_PARAMS = {"jql", "soql", "sql", "query", "filter"}

TITLES = ["New invoice", "Weekly report", "Action needed", "Order received", "New lead", "Server down",
          "Approval needed", "Reminder", "Welcome aboard", "Follow up", "Q3 review", "New signup"]
MESSAGES = ["Please review", "Thanks, we got it", "On it", "Done", "Heads up", "Please approve",
            "See details", "Welcome!", "Any updates?", "Escalated", "Back soon", "Looks good"]
PREFIXES = ["New: ", "Alert: ", "FYI: ", "Invoice ", "Order ", "Lead: ", "From ", "Re: ", "Hi "]
_TITLE_LIKE = {"subject", "title", "summary", "short_description", "topic", "name"}
KEYS = ["INV-1042", "ORD-2231", "C-501", "A-77"]

EMAILS = ["maria@contoso.com", "alex@fabrikam.com", "finance@contoso.com", "it@contoso.com",
          "sam@example.com", "priya@contoso.com", "lee@fabrikam.com", "support@contoso.com",
          "hr@fabrikam.com", "ops@contoso.com", "billing@contoso.com", "jo@example.com"]
PEOPLE = ["maria", "alex", "sam", "priya", "jordan", "chen"]

# Literal pools by "connector.param" first, then by parameter name.
ENTITIES: dict[str, list[str]] = {
    "channel": ["general", "finance", "sales", "support", "marketing", "dev", "ops", "hr", "alerts", "it",
                "billing", "leads"],
    "team": ["Sales", "Finance", "Engineering", "Support", "Marketing", "Operations", "HR"],
    "folder": ["Inbox", "Invoices", "Receipts", "Contracts", "Reports", "Archive", "Orders", "Scans",
               "Resumes", "Exports"],
    "label": ["Invoices", "Important", "Receipts", "Follow-up", "Clients", "Newsletters"],
    "file": ["invoices.xlsx", "orders.xlsx", "leads.xlsx", "budget.xlsx", "inventory.xlsx", "contacts.xlsx"],
    "adobe_sign.file": ["contract.pdf", "nda.pdf", "offer.pdf"],
    "table": ["Invoices", "Orders", "Leads", "Tasks", "Customers", "Expenses", "Inventory", "Contacts"],
    "sql_server.table": ["orders", "customers", "leads", "tickets", "invoices"],
    "postgres.table": ["orders", "customers", "events", "signups"],
    "dataverse.table": ["accounts", "contacts", "cases", "projects"],
    "dynamics.table": ["accounts", "contacts", "leads", "opportunities", "cases"],
    "sheet": ["Leads", "Orders 2024", "Budget", "Signups", "Inventory", "Timesheets"],
    "smartsheet.row": ["R-12", "R-40", "R-77"],
    "tab": ["Sheet1", "Leads", "Orders", "Summary"],
    "base": ["CRM", "Content", "Hiring", "Inventory", "Events"],
    "site": ["hr", "finance", "it", "sales", "marketing", "projects", "legal"],
    "list": ["Onboarding", "Requests", "Assets", "Tasks", "Contracts", "Issues"],
    "mailchimp.list": ["Newsletter", "Customers", "Beta", "Webinar"],
    "todo.list": ["Tasks", "Groceries", "Work", "Errands"],
    "trello.list": ["To Do", "Doing", "Done", "Backlog"],
    "hubspot.list": ["Leads", "Customers", "Newsletter"],
    "library": ["Documents", "Contracts", "Invoices", "Policies"],
    "project": ["Website", "Launch", "Onboarding", "Marketing", "Q3 Goals"],
    "jira.project": ["OPS", "WEB", "MOBILE", "IT", "SUP", "DATA"],
    "repo": ["acme/web", "acme/api", "acme/docs", "acme/mobile", "acme/infra"],
    "board": ["Marketing", "Sprint", "Roadmap", "Hiring", "Content"],
    "plan": ["IT", "Marketing", "Onboarding", "Launch", "Facilities"],
    "bucket": ["To do", "In progress", "Backlog", "Ideas"],
    "calendar": ["primary", "Team", "Work", "Marketing", "Holidays"],
    "database": ["Projects", "Tasks", "Meeting Notes", "CRM", "Content"],
    "collection": ["orders", "users", "events", "logs", "customers"],
    "section": ["Meetings", "Ideas", "Journal", "Projects"],
    "form": ["Feedback", "Signup", "Survey", "Registration", "Contact"],
    "pipeline": ["Sales", "Renewals", "Partners", "Default"],
    "group": ["Support", "Billing", "Tier 2", "VIP"],
    "location": ["Seattle", "London", "Paris", "Berlin", "Tokyo", "New York"],
    "template": ["NDA", "Offer Letter", "Contract", "Invoice Approval"],
    "source": ["Web", "Referral", "Partner", "Event"],
    "stage": ["Qualified", "Proposal", "Negotiation", "Closed Won"],
    "status": ["Done", "In Progress", "To Do", "Blocked"],
    "account": ["Acme", "Contoso", "Globex", "Initech"],
    "emoji": ["eyes", "fire", "rocket", "warning"],
    "branch": ["main", "release", "develop"],
    "tag": ["v1.0.0", "v2.1.0", "v0.9.3"],
    "destination": ["/Archive", "/Shared/Finance", "/Backup"],
    "parent": ["Clients", "Projects", "Archive"],
    "view": ["Grid view", "Active", "This week"],
    "column": ["ID", "Email", "Name", "Order ID"],
    "path": ["/Invoices/latest.pdf", "/Reports/summary.docx", "/Contracts/nda.pdf", "/Scans/receipt.png"],
    "from": ["/Inbox/report.pdf", "/Uploads/photo.jpg"],
    "dropbox.to": ["/Archive", "/Shared/Team"],
    "twilio.to": ["+15551234567", "+447700900123", "+15557654321"],
    "twilio.from": ["+15550001111", "+15550002222"],
    "twilio.number": ["+15550001111", "+15550002222"],
    "translator.to": ["fr", "de", "es", "ja", "en"],
    "translator.from": ["en", "fr", "de"],
    "slack.user": PEOPLE,
    "assignee": PEOPLE,
    "owner": PEOPLE,
    "person": ["Maria Garcia", "Alex Kim", "Sam Lee"],
    "at": ["09:00", "17:30", "08:00"],
    "material": ["M-1001", "M-2040", "STEEL-10", "BOLT-6"],
    "plant": ["P100", "P200", "BER1", "SEA2"],
    "company_code": ["1000", "2000", "3100"],
    "plate": ["AB-123-CD", "KX-908-PL"],
    "garage": ["North Garage", "Central Depot"],
    "contoso_erp.vendor": ["V-1001", "V-2200", "V-3301"],
    "department": ["Sales", "Finance", "IT", "HR"],
    "state": ["In Progress", "Resolved", "On Hold"],
    "subject_filter": ["invoice", "urgent", "order"],
    "tracking": ["TRK12345", "TRK99881"],
    "first_name": ["Maria", "Alex", "Sam", "Priya"],
    "last_name": ["Garcia", "Kim", "Lee", "Patel"],
    "company": ["Acme", "Contoso", "Globex", "Initech"],
    "from_name": ["Contoso News", "Acme Team"],
    "name": ["Q3 review", "Kickoff", "Onboarding", "Launch plan"],
    "teams.name": ["Launch", "Q3 Planning", "Partners"],
    "slack.name": ["launch", "q3-planning", "partners"],
    "discord.name": ["Bug reports", "Ideas"],
    "box.name": ["Q3 Reports", "notes.txt", "Clients"],
    "onedrive.name": ["notes.txt", "report.csv", "summary.txt"],
    "google_drive.name": ["notes.txt", "report.csv", "summary.txt"],
    "sharepoint.name": ["notes.txt", "minutes.docx", "summary.txt"],
    "hubspot.name": ["Acme renewal", "Globex expansion", "New logo"],
    "github.name": ["Spring release", "Hotfix"],
    "docusign.name": ["Maria Garcia", "Alex Kim", "Sam Lee"],
    "adobe_sign.name": ["Maria Garcia", "Alex Kim", "Sam Lee"],
    "pipedrive.name": ["Maria Garcia", "Alex Kim", "Sam Lee"],
    "trello.name": TITLES,
    "asana.name": TITLES,
}
GENERIC_ENTITIES = ["Main", "Team", "Default", "Shared"]

QUERIES: dict[str, list[str]] = {
    "gmail.query": ["from:billing", "is:unread", "subject:invoice", "has:attachment"],
    "office365_users.query": ["Maria", "Sales", "Berlin"],
    "zendesk.query": ["status:open", "priority:urgent", "tag:vip"],
    "jql": ["project = OPS", "status = Open", "priority = High"],
    "soql": ["SELECT Id FROM Lead", "SELECT Name FROM Account"],
    "sql": ["SELECT * FROM orders", "SELECT * FROM users"],
    "query": ["SELECT * FROM orders", "SELECT id FROM tickets"],
    "filter": ["status eq 'Open'", "amount gt 100", "status eq 'New'"],
}
NUMBERS: dict[str, list[int] | list[float]] = {
    "amount": [50, 100, 250, 500, 1000, 2500], "value": [500, 1200, 5000, 10000],
    "quantity": [1, 5, 10, 25, 50], "minutes": [5, 10, 15, 30, 60], "duration": [30, 45, 60],
    "every": [1, 2, 5, 15], "max": [5, 10, 20], "top": [5, 10, 20], "minutes_before": [10, 15, 30],
    "status": [200, 201, 202, 400], "row": [2, 5, 12], "number": [12, 42, 87], "days": [1, 3, 5],
}
# Mostly dates: an ISO date-time costs ~10 SmolLM2 tokens, a date ~6.
DATETIMES = ["2024-07-01", "2024-09-15", "2025-01-10", "2024-12-02", "2024-07-01T09:00", "2024-09-15T14:30"]
URLS = ["https://api.example.com/orders", "https://hooks.example.com/notify", "https://status.example.com/check",
        "https://example.com/report"]
LABEL_LISTS = ["bug", "urgent", "docs", "triage", "customer"]
OBJECT_KEYS = ["name", "email", "status", "amount", "title", "owner", "notes", "date"]

# Literals for conditions, by the field compared.
COMPARE_STRINGS: dict[str, list[str]] = {
    "status": ["Open", "Closed", "Done", "New", "Pending", "Approved", "Active"],
    "priority": ["High", "Urgent", "Low", "Critical"], "stage": ["Closed Won", "Negotiation", "Proposal"],
    "outcome": ["Approve", "Reject"], "importance": ["high", "low"], "department": ["Sales", "Finance", "IT"],
    "industry": ["Retail", "Finance", "Healthcare"], "currency": ["usd", "eur", "gbp"],
    "source": ["Web", "Referral"], "method": ["POST", "GET"], "country": ["US", "DE", "FR"],
    "language": ["fr", "de", "en"], "channel": ["general", "sales"], "state": ["Resolved", "Closed"],
    "list": ["Done", "Doing"], "location": ["London", "Remote"], "branch": ["main", "release"],
    "plant": ["P100", "BER1"], "content_type": ["application/pdf"],
}
CONTAINS_WORDS = ["urgent", "invoice", "refund", "VIP", "outage", "renewal", "contract", "bug", "order"]
TEXT_FIELDS = {"subject", "title", "text", "body", "description", "message", "name", "summary", "comments",
               "content", "topic", "reason", "notes"}
THRESHOLDS: dict[str, list[int]] = {
    "amount": [100, 500, 1000, 5000], "total": [100, 500, 1000], "value": [1000, 5000], "balance": [0, 100],
    "score": [50, 80], "temperature": [0, 25, 30], "rain_chance": [50, 70], "high": [25, 30], "low": [0, 5],
    "size": [1000, 10000], "duration": [30, 60], "days": [3, 5, 10], "quantity": [10, 100],
    "rating": [3, 4], "mileage": [10000, 50000], "status": [200, 400],
}


def pool_key(op: Operation, param: Param) -> list[str]:
    """Lookup keys for a parameter's pools: ``connector.param`` first, then ``param``."""
    return [f"{op.connector}.{param.name}", param.name]


def role(op: Operation, param: Param) -> Role:
    """How the generator fills a parameter."""
    override = ROLE_OVERRIDES.get(f"{op.connector}.{param.name}")
    if override:
        return override
    kind = param.type.kind
    if kind in ("enum", "bool", "object", "list", "datetime", "url"):
        return kind  # type: ignore[return-value]
    if kind == "email":
        return "person"
    if param.name in ID_PARAMS and f"{op.connector}.{param.name}" not in ENTITIES:
        return "id"
    if kind in ("number", "integer"):
        return "number"
    if param.name in QUERY_PARAMS:
        return "query"
    if kind == "any" or (param.name in TEXT_PARAMS and not any(k in ENTITIES for k in pool_key(op, param))):
        return "text"
    return "entity"


def text_pool(param: Param) -> list[str]:
    """Literal texts for a text parameter."""
    if param.name in ("key", "value"):
        return KEYS
    return TITLES if param.name in _TITLE_LIKE else MESSAGES
