"""How requests are worded: phrase tables for parameters, fields, nouns, conditions and frames.

Operation verb phrases come from the catalog (``say``); everything else lives here. Each entry
offers several wordings so that no program shape has a single template. ``{v}`` is a value,
``{l}``/``{r}`` the sides of a test, ``{T}`` a connector's name.
"""

from __future__ import annotations

import random
import re

# -- parameters: wordings for a literal value; references use GENERIC_REF unless listed in REF ---
PARAM: dict[str, list[str]] = {
    "to": ["to {v}", "for {v}"], "cc": ["cc {v}", "copying {v}", "with {v} in cc"],
    "subject": ["with subject {v}", "with the subject {v}", "titled {v}"],
    "body": ["saying {v}", "with body {v}", "with the message {v}", "that says {v}"],
    "text": ["saying {v}", "with text {v}", "with the text {v}", "that says {v}", "reading {v}"],
    "message": ["saying {v}", "with the message {v}"],
    "content": ["with content {v}", "containing {v}", "with {v} as the content"],
    "title": ["titled {v}", "called {v}", "with title {v}", "named {v}"],
    "name": ["named {v}", "called {v}", "with name {v}"],
    "summary": ["titled {v}", "with summary {v}", "called {v}"],
    "description": ["with description {v}", "described as {v}", "with the description {v}"],
    "comment": ["with comment {v}", "with the note {v}"], "comments": ["with comments {v}", "noting {v}"],
    "notes": ["with notes {v}", "noting {v}"], "details": ["with details {v}", "including {v}"],
    "reason": ["with reason {v}", "because {v}", "giving the reason {v}"],
    "topic": ["about {v}", "with topic {v}"],
    "short_description": ["described as {v}", "with short description {v}", "titled {v}"],
    "key": ["with key {v}", "where the key is {v}", "matching {v}"],
    "value": ["where the value is {v}", "matching {v}"],
    "folder": ["in the {v} folder", "in {v}", "to the {v} folder", "in folder {v}"],
    "from": ["from {v}"], "subject_filter": ["with {v} in the subject", "whose subject contains {v}"],
    "label": ["with the {v} label", "as {v}", "with label {v}"],
    "max": ["(at most {v})", "limited to {v}"], "top": ["(top {v})", "limited to {v}"],
    "team": ["in the {v} team", "in team {v}", "for the {v} team"],
    "channel": ["in the {v} channel", "to #{v}", "in channel {v}", "to the {v} channel", "in #{v}"],
    "user": ["to {v}", "for {v}", "({v})"], "assigned_to": ["assigned to {v}", "for {v}"],
    "assignee": ["assigned to {v}", "for {v}"], "requester": ["for {v}", "requested by {v}", "on behalf of {v}"],
    "caller": ["for caller {v}", "on behalf of {v}"], "host": ["hosted by {v}", "for host {v}"],
    "email": ["for {v}", "with email {v}", "at {v}"], "owner": ["owned by {v}", "for {v}"],
    "person": ["for {v}", "linked to {v}"], "buddy": ["with {v} as buddy", "with buddy {v}"],
    "manager": ["managed by {v}", "under {v}"], "driver": ["to driver {v}", "to {v}"],
    "employee": ["for {v}", "for employee {v}"],
    "table": ["in the {v} table", "from table {v}", "in table {v}"],
    "file": ["in {v}", "in the {v} file", "from {v}"],
    "sheet": ["in the {v} sheet", "in sheet {v}", "on the {v} spreadsheet"],
    "tab": ["on tab {v}", "in the {v} tab"], "base": ["in the {v} base", "in base {v}"],
    "site": ["on the {v} site", "in the {v} site", "on site {v}"],
    "list": ["in the {v} list", "on list {v}", "to the {v} list"],
    "library": ["in the {v} library", "to library {v}"],
    "project": ["in project {v}", "in the {v} project", "for project {v}"],
    "repo": ["in {v}", "in the {v} repo", "on repo {v}"], "board": ["on the {v} board", "in board {v}"],
    "plan": ["in the {v} plan", "in plan {v}"], "bucket": ["in the {v} bucket", "in bucket {v}"],
    "calendar": ["in the {v} calendar", "on calendar {v}"],
    "database": ["in the {v} database", "in database {v}"],
    "collection": ["in the {v} collection", "in collection {v}"],
    "section": ["in the {v} section", "in section {v}"],
    "form": ["for the {v} form", "on form {v}", "to the {v} form"],
    "pipeline": ["in the {v} pipeline", "in pipeline {v}"], "group": ["in the {v} group", "for group {v}"],
    "location": ["in {v}", "for {v}", "at {v}"], "template": ["using the {v} template", "from template {v}"],
    "source": ["from source {v}", "with source {v}"], "stage": ["at stage {v}", "in stage {v}", "to stage {v}"],
    "status": ["to {v}", "to status {v}", "as {v}"], "state": ["to {v}", "as {v}"],
    "account": ["for account {v}", "under account {v}"], "emoji": ["with :{v}:", "with the {v} emoji"],
    "branch": ["on {v}", "on branch {v}"], "tag": ["tagged {v}", "with tag {v}"],
    "destination": ["to {v}", "into {v}"], "parent": ["in {v}", "under {v}"],
    "view": ["in view {v}", "using the {v} view"], "column": ["by column {v}", "using column {v}"],
    "path": ["at {v}", "{v}"], "at": ["at {v}"], "material": ["of material {v}", "for material {v}"],
    "plant": ["at plant {v}", "in plant {v}"], "company_code": ["in company code {v}", "for company code {v}"],
    "plate": ["with plate {v}", "plate {v}"], "garage": ["at {v}", "at the {v}"],
    "vendor": ["from vendor {v}", "for vendor {v}"], "department": ["in {v}", "for the {v} department"],
    "tracking": ["with tracking {v}", "tracking number {v}"],
    "first_name": ["with first name {v}", "first name {v}"], "last_name": ["with last name {v}", "last name {v}"],
    "company": ["at {v}", "from company {v}"], "from_name": ["from {v}", "with sender name {v}"],
    "amount": ["for {v}", "of {v}", "with amount {v}"], "value": ["worth {v}", "with value {v}"],
    "quantity": ["for {v} units", "with quantity {v}"], "minutes": ["{v} minutes", "for {v} minutes"],
    "duration": ["for {v} minutes", "lasting {v} minutes"], "minutes_before": ["{v} minutes before", "{v} minutes ahead"],
    "start": ["starting {v}", "from {v}", "at {v}"], "end": ["ending {v}", "until {v}"],
    "due": ["due {v}", "with due date {v}"], "time": ["{v}"], "since": ["since {v}"],
    "date": ["on {v}", "for {v}"], "start_date": ["starting {v}", "with start date {v}"],
    "url": ["at {v}", "on {v}"], "link": ["with link {v}", "linking to {v}"], "feed": ["in the feed {v}", "at {v}"],
    "jql": ["with JQL {v}", "matching {v}"], "soql": ["with {v}", "using the query {v}"],
    "sql": ["with {v}", "running {v}"], "query": ["with {v}", "matching {v}", "for {v}"],
    "filter": ["filtered by {v}", "where {v}", "with filter {v}"],
    "attendees": ["inviting {v}", "with attendees {v}"], "labels": ["with labels {v}", "labelled {v}"],
    "tags": ["tagged {v}", "with tags {v}"], "args": ["with parameters {v}"],
    "headers": ["with headers {v}"],
    # enums
    "importance": ["with {v} importance", "marked {v} importance"], "type": ["of type {v}", "as {v}"],
    "priority": ["with priority {v}", "at {v} priority"], "role": ["as {v}", "with role {v}"],
    "access": ["with {v} access"], "method": ["using {v}", "with method {v}"], "currency": ["in {v}"],
    "units": ["in {v} units"], "urgency": ["with urgency {v}"], "progress": ["to {v}", "as {v}"],
    "severity": ["with severity {v}", "of {v} severity"], "unit": ["per {v}"],
    # ids written as literals ("comment on the issue OPS-142")
    "id_literal": ["{v}"], "number_literal": ["#{v}", "number {v}"], "row_literal": ["number {v}"],
    "customer_literal": ["for customer {v}", "for {v}"], "invoice_literal": ["for invoice {v}", "against invoice {v}"],
    "item_literal": ["for item {v}", "for {v}"], "vehicle_literal": ["for vehicle {v}", "for {v}"],
    "contact_literal": ["for contact {v}"], "deal_literal": ["on deal {v}", "for deal {v}"],
}
GENERIC_LITERAL = ["with {w} {v}", "{w} {v}", "setting {w} to {v}"]
GENERIC_REF = ["with {w} {v}", "setting the {w} to {v}", "using {v} as the {w}", "with {v} as {w}"]
# ids the verb phrase does not name: "create an invoice for the customer"
ID_REF = {"customer": ["for {v}"], "contact": ["for {v}", "on {v}"], "deal": ["on {v}", "for {v}"],
          "invoice": ["for {v}", "against {v}"], "vehicle": ["for {v}"], "item": ["for {v}"],
          "thread": ["in the thread", "as a thread reply"]}
BOOL: dict[str, dict[bool, list[str]]] = {
    "private": {True: ["as a private channel", "privately"], False: ["as a public channel"]},
    "public": {True: ["publicly", "as a public comment"], False: ["as an internal note"]},
    "owner": {True: ["as an owner"], False: ["as a plain member"]},
    "reply_all": {True: ["to everyone", "replying to all"], False: ["to the sender only"]},
}
CONCAT = ["{p} followed by {r}", "{p} plus {r}", "the text {p} and then {r}", "{p} + {r}"]
# An object value: (the phrase around all pairs, the phrase of one pair), chosen together.
OBJECT = [("with {v}", "{k} set to {x}"), ("setting {v}", "{k} to {x}"), ("filling in {v}", "{k} = {x}"),
          ("with {v}", "{k}: {x}"), ("where {v}", "{k} is {x}")]

# -- outputs: nouns of record types and words of their fields ----------------------------------
NOUNS: dict[str, list[str]] = {
    "mail": ["email", "mail"], "message": ["message", "post"], "sms": ["text message", "SMS"],
    "event": ["event", "meeting"], "meeting": ["meeting", "call"], "recording": ["recording"],
    "user": ["user", "person"], "row": ["row"], "record": ["record"], "file": ["file", "document"],
    "link": ["link"], "folder": ["folder"], "list_item": ["item", "list item"], "task": ["task"],
    "card": ["card"], "page": ["page"], "note": ["note", "page"], "issue": ["issue", "ticket"],
    "pull_request": ["pull request", "PR"], "push": ["push"], "release": ["release"],
    "ticket": ["ticket"], "contact": ["contact"], "lead": ["lead"], "deal": ["deal"], "account": ["account"],
    "approval": ["approval", "approval result"], "approval_request": ["approval request"],
    "envelope": ["envelope"], "agreement": ["agreement"], "response": ["response", "submission"],
    "http_response": ["response", "HTTP response"], "request": ["request", "webhook call"],
    "button_press": ["button press"], "tick": ["run"], "feed_item": ["item", "post", "entry"],
    "forecast": ["forecast", "weather report"], "translation": ["translation"], "subscriber": ["subscriber"],
    "campaign": ["campaign"], "payment": ["payment"], "customer": ["customer"], "invoice": ["invoice"],
    "order": ["order"], "attachment": ["attachment"], "purchase_order": ["purchase order", "PO"],
    "vendor": ["vendor"], "stock": ["stock level"], "vehicle": ["vehicle"], "employee": ["employee"],
    "leave_request": ["leave request"], "onboarding": ["onboarding"],
}
NOUN_BY_CONNECTOR = {("servicenow", "ticket"): ["incident"], ("salesforce", "deal"): ["opportunity", "deal"],
                     ("jira", "issue"): ["issue", "ticket"], ("github", "issue"): ["issue"]}
TRIGGER_ADJECTIVES = ["new", "incoming", "triggering", "original"]
FIELD_WORDS: dict[str, list[str]] = {
    "from": ["sender", "sender address"], "to": ["recipient"], "received": ["received time"], "posted": ["posting time"],
    "body": ["body", "text"], "user": ["author", "user"], "start": ["start time"],
    "end": ["end time"], "join_url": ["join link", "meeting link"], "share_url": ["share link"],
    "url": ["link", "URL"], "link": ["link"], "id": ["ID"], "due": ["due date"], "assigned_to": ["assignee"],
    "close_date": ["close date"], "created": ["creation date"], "modified": ["last-modified time"],
    "submitted": ["submission time"], "email": ["email", "email address"], "subject": ["subject", "subject line"],
    "amount": ["amount"], "total": ["total", "order total"], "rain_chance": ["chance of rain"],
    "job_title": ["job title"], "respondent": ["respondent"], "requester": ["requester"],
    "manager": ["manager"], "organizer": ["organizer"], "content": ["content", "contents"],
    "short_description": ["short description"], "has_attachments": ["attachment flag"],
}
REF = ["the {n}'s {f}", "the {f} of the {n}", "the {n} {f}"]
ID_NOUN = ["the {n}", "that {n}"]

# -- tests ------------------------------------------------------------------------------------------
COMPARE: dict[str, list[str]] = {
    ">": ["{l} is greater than {r}", "{l} exceeds {r}", "{l} is over {r}", "{l} is more than {r}", "{l} > {r}"],
    "<": ["{l} is less than {r}", "{l} is under {r}", "{l} is below {r}", "{l} < {r}"],
    ">=": ["{l} is at least {r}", "{l} is {r} or more", "{l} >= {r}"],
    "<=": ["{l} is at most {r}", "{l} is {r} or less", "{l} is no more than {r}"],
    "==": ["{l} is {r}", "{l} equals {r}", "{l} is exactly {r}"],
    "!=": ["{l} is not {r}", "{l} isn't {r}", "{l} is anything but {r}"],
}
CONTAINS = ["{l} contains {r}", "{l} mentions {r}", "{l} includes {r}", "{r} appears in {l}", "{l} has {r} in it"]
TRUTHY = {"has_attachments": (["the {n} has attachments", "there are attachments on the {n}"],
                              ["the {n} has no attachments", "there are no attachments on the {n}"])}
TRUTHY_DEFAULT = (["{l} is true", "{l} is set"], ["{l} is false", "{l} is not set"])
JOIN = {"and": ["{a} and {b}", "both {a} and {b}"], "or": ["{a} or {b}", "either {a} or {b}"]}

IF = ["if {c}, {t}", "if {c} then {t}", "in case {c}, {t}", "{t}, but only if {c}", "{t} if {c}", "only when {c}, {t}"]
IF_ELSE = ["if {c}, {t}; otherwise {e}", "if {c} then {t}, else {e}", "if {c}, {t}. If not, {e}",
           "check whether {c}: if so, {t}; if not, {e}", "{t} if {c}, and {e} otherwise"]
LOOP_LIST = ["{s}, and for each {n} {b}", "{s}, then for every {n}: {b}", "{s}; for each {n} in the result, {b}",
             "{s} and go through them: for each {n}, {b}"]
LOOP_FIELD = ["for each {n} of the {p}, {b}", "for every {n} on the {p}, {b}", "go through the {p}'s {ns} and {b}"]

# -- the request as a whole -------------------------------------------------------------------------
TRIGGER_FIRST = {
    "neutral": ["When {T}, {S}.", "Whenever {T}, {S}.", "Every time {T}, {S}.", "Once {T}, {S}.",
                "As soon as {T}, {S}.", "When {T}: {S}."],
    "formal": ["Whenever {T}, please {S}.", "Upon the event that {T}, the flow should {S}.",
               "Each time {T}, kindly {S}.", "When {T}, the automation must {S}.",
               "Whenever {T}, the following should happen: {S}.", "Each time {T}: {S}."],
    "casual": ["when {T} -> {S}", "whenever {T} pls {S}", "ok so when {T}, {S}", "{T}? then {S}",
               "when {T} just {S}"],
}
TRIGGER_LAST = {
    "neutral": ["{S} whenever {T}.", "{S} every time {T}.", "{S} when {T}."],
    "formal": ["Please {S} whenever {T}.", "The flow should {S} each time {T}."],
    "casual": ["{S} whenever {T}", "pls {S} when {T}"],
}
TRIGGER_SPLIT = {
    "neutral": ["Trigger: {T}. Then {S}.", "Start when {T}. {S}."],
    "formal": ["The trigger is that {T}. The flow should then {S}."],
    "casual": ["trigger = {T}. then {S}"],
}
OPENERS = {
    "neutral": ["", "", "", "I need a flow: ", "Automate this: ", "Set up a flow: ", "Create a workflow: "],
    "formal": ["", "Please build an automation. ", "I would like a flow that works as follows. "],
    "casual": ["", "", "hey, ", "quick one: ", "can u set this up: "],
}
NAMED = ['Create a flow called {q}: ', 'Flow {q}. ', 'Make a flow named {q}. ']
NAMED_AFTER = [' Call it {q}.', ' Name the flow {q}.', ' Title: {q}.']
SEQUENCE = {
    "neutral": ["{a}, then {b}", "{a} and {b}", "{a}, and then {b}", "{a}. After that, {b}", "{a}; next, {b}"],
    "formal": ["{a}, and subsequently {b}", "{a}; thereafter {b}", "{a}. Subsequently, {b}"],
    "casual": ["{a} then {b}", "{a} + {b}", "{a}, {b}", "{a} n then {b}"],
}
FIRST_FINALLY = ["first {a}, then {b}, and finally {c}", "first {a}; then {b}; finally {c}"]
ACTION_CONNECTOR_END = ["in {T}", "on {T}", "via {T}", "using {T}", "with {T}", "through {T}"]
ACTION_CONNECTOR_FRONT = ["in {T}, ", "on {T}, ", "use {T} to ", "with {T}, "]
TRIGGER_CONNECTOR = ["in {T}", "on {T}", "via {T}", "in {T}"]
SCHEDULE = ["every {every} {unit}", "once every {every} {unit}", "on a schedule, every {every} {unit}"]
SCHEDULE_FRAMES = {"neutral": ["Every {every} {unit}, {S}.", "{S} every {every} {unit}.", "On a schedule of every {every} {unit}: {S}."],
                   "formal": ["Every {every} {unit}, please {S}.", "The flow should {S} once every {every} {unit}.",
                              "Every {every} {unit}, the following should happen: {S}."],
                   "casual": ["every {every} {unit} {S}", "{S} every {every} {unit} pls"]}
REGISTERS = ("neutral", "neutral", "neutral", "formal", "casual")
VERB_SLOT = re.compile(r"(please|kindly|should|must|pls|just) \{S\}")
"""Frames whose {S} must start with a verb ("please post ..."), not with "if" or "for each"."""


def noun_for(record: str, connector: str, rng: random.Random) -> str:
    """A noun for a record type, as produced by one connector ("incident" for ServiceNow tickets)."""
    options = NOUN_BY_CONNECTOR.get((connector, record)) or NOUNS.get(record) or [record.replace("_", " ")]
    return rng.choice(options)


def field_words(field: str, rng: random.Random) -> str:
    return rng.choice(FIELD_WORDS.get(field) or [field.replace("_", " ")])
