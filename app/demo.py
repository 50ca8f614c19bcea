"""Demo data of any size (`flask crm demo --orgs N`): a believable Russian client base.

Rows go in by bulk Core inserts (thousands per statement) so that 50,000 organisations load in
minutes, yet they hold what the application itself would store: name_key and search_text as the
models compute them, equipment_text as app/domain/requests.py builds it, numbers taken from the
year counters, status and delivery histories that end in the request's status, and a catalogue
that knows every item. No audit entries and no Agent events are written: nothing "happened".
"""

from __future__ import annotations

import random
import secrets
import time as timer
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import accounts
from app.domain import request_counts
from app.extensions import db
from app.models.catalogue import CATALOGUE_FIELDS, CatalogueEntry
from app.models.clients import Contact, Organization, name_key, sort_key
from app.models.reminders import Delivery, Reminder
from app.models.requests import (
    DeliveryChange,
    DeliveryStatus,
    Request,
    RequestComment,
    RequestItem,
    RequestNumberCounter,
    RequestStatus,
    StatusChange,
)
from app.models.users import CrmUser, RecordScope


def _words(text: str) -> list[str]:
    return text.split()


CHUNK = 1000  # organisations, or requests, generated and inserted at a time
YEARS_BACK = 3

# (login, first name, last name, scope): five managers who see their own records, one who sees all.
DEMO_MANAGERS = [
    ("a.smirnov", "Алексей", "Смирнов", RecordScope.OWN),
    ("e.kuznetsova", "Елена", "Кузнецова", RecordScope.OWN),
    ("d.popov", "Дмитрий", "Попов", RecordScope.OWN),
    ("o.vasilyeva", "Ольга", "Васильева", RecordScope.OWN),
    ("s.sokolov", "Сергей", "Соколов", RecordScope.OWN),
    ("n.morozova", "Наталья", "Морозова", RecordScope.ALL),
]

# Cities with their telephone codes and the first digits of their postcodes.
CITIES = [
    ("Москва", "495", "115"), ("Москва", "499", "125"), ("Санкт-Петербург", "812", "190"),
    ("Екатеринбург", "343", "620"), ("Новосибирск", "383", "630"), ("Казань", "843", "420"),
    ("Нижний Новгород", "831", "603"), ("Челябинск", "351", "454"), ("Самара", "846", "443"),
    ("Ростов-на-Дону", "863", "344"), ("Уфа", "347", "450"), ("Красноярск", "391", "660"),
    ("Пермь", "342", "614"), ("Воронеж", "473", "394"), ("Волгоград", "844", "400"),
    ("Краснодар", "861", "350"), ("Саратов", "845", "410"), ("Тюмень", "345", "625"),
    ("Ижевск", "341", "426"), ("Иркутск", "395", "664"), ("Хабаровск", "421", "680"),
    ("Ярославль", "485", "150"), ("Владивосток", "423", "690"), ("Томск", "382", "634"),
    ("Оренбург", "353", "460"), ("Кемерово", "384", "650"), ("Липецк", "474", "398"),
    ("Тула", "487", "300"), ("Киров", "833", "610"), ("Чебоксары", "835", "428"),
    ("Калининград", "401", "236"), ("Набережные Челны", "855", "423"), ("Сургут", "346", "628"),
    ("Череповец", "820", "162"), ("Архангельск", "818", "163"), ("Белгород", "472", "308"),
]  # fmt: skip
STREETS = _words(
    "Ленина Мира Советская Гагарина Промышленная Заводская Индустриальная Кирова Пушкина Садовая "
    "Московская Октябрьская Строителей Энтузиастов Фрунзе Лесная Набережная Северная Химиков Металлургов"
)
INDUSTRIES = [
    "Водоканал", "Теплоэнергетика", "Нефтегазовая отрасль", "Пищевая промышленность", "Металлургия",
    "Химическая промышленность", "ЖКХ", "Строительство", "Машиностроение", "Фармацевтика",
    "Целлюлозно-бумажная промышленность", "Сельское хозяйство", "Горнодобывающая отрасль", "Логистика",
]  # fmt: skip
NAME_HEADS = _words(
    "Урал Сибирь Волга Техно Пром Энерго Гидро Термо Аква Нефте Газ Хим Мет Строй Агро Спец Север Юг "
    "Балт Дон Кама Ока Сталь Вектор Альфа Тех Эко Ресурс Инвест Меридиан Кристалл Импульс Регион Тайга"
)
NAME_MIDDLES = ["", "", "", "энерго", "тех", "пром", "маш", "хим", "гидро", "строй", "снаб"]
NAME_TAILS = _words(
    "маш снаб сервис монтаж пром техника холдинг ресурс комплект инжиниринг систем трейд строй лайн "
    "тех гарант профи завод групп комплекс"
)
LEGAL_FORMS = [("ООО", 62), ("АО", 12), ("ЗАО", 5), ("ПАО", 3), ("ИП", 18)]

MALE_NAMES = _words(
    "Александр Алексей Андрей Антон Артём Борис Вадим Виктор Владимир Дмитрий Евгений Игорь Илья Кирилл "
    "Максим Михаил Николай Олег Павел Роман Сергей Юрий"
)
FEMALE_NAMES = _words(
    "Анна Валентина Виктория Галина Дарья Екатерина Елена Ирина Ксения Людмила Марина Мария Наталья Оксана "
    "Ольга Светлана Татьяна Юлия"
)
SURNAMES = _words(
    "Иванов Петров Сидоров Смирнов Кузнецов Попов Васильев Соколов Михайлов Новиков Фёдоров Морозов Волков "
    "Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров "
    "Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев "
    "Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов "
    "Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоренко Матвеев Титов Марков "
    "Миронов Крылов Куликов Карпов Власов Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов "
    "Савельев Тимофеев Фомин Чернов Абрамов Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв "
    "Быков Маслов Родионов Коновалов Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров "
    "Наумов Потапов Журавлёв Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов "
    "Никифоров Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов "
    "Кондратьев Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин Белоусов "
    "Нестеров Симонов Прокофьев Харитонов Князев Цветков Левин Митрофанов Воронов Аксёнов Софронов Мальцев "
    "Логинов Горшков Савин Краснов Майоров Демидов Елисеев Рыбаков Сафонов Плотников Демин Хохлов Жданов "
    "Вишневский Ковальский Островский Добровольский Шевченко Бондаренко Коваленко Кравченко Ткаченко"
)
MALE_PATRONYMICS = _words(
    "Александрович Алексеевич Андреевич Борисович Викторович Владимирович Дмитриевич Евгеньевич Иванович "
    "Игоревич Михайлович Николаевич Олегович Павлович Петрович Романович Сергеевич Юрьевич"
)
POSITIONS = [
    "Генеральный директор", "Технический директор", "Главный инженер", "Главный механик", "Главный энергетик",
    "Начальник отдела снабжения", "Менеджер по закупкам", "Инженер-технолог", "Начальник производства",
    "Инженер ПТО", "Заместитель директора", "Специалист по тендерам", "Начальник службы эксплуатации",
]  # fmt: skip

# type | name | sub-name: capacity; ... — the equipment the company sells.
CATALOGUE = """
Система очистки | OUUT | X2-200: 227; X2-350: 380; X3-500: 540; X3-800: 830
Система очистки | ЭКОС | БМ-50: 50 м³/сут; БМ-150: 150 м³/сут; БМ-400: 400 м³/сут
Насос центробежный | Grundfos CR | CR 32-4: 32 м³/ч; CR 64-2: 64 м³/ч; CR 95-3: 95 м³/ч; CR 150-2: 150 м³/ч
Насос центробежный | Wilo Helix | V 1605: 16 м³/ч; V 3604: 36 м³/ч; V 5204: 52 м³/ч
Насос консольный | КМ | КМ 80-50-200: 50 м³/ч; КМ 100-80-160: 100 м³/ч; КМ 150-125-315: 200 м³/ч
Насос дозировочный | ProMinent Beta | BT4b 1005: 4,1 л/ч; BT5b 1608: 6,8 л/ч; BT5b 0730: 30 л/ч
Насос погружной | Grundfos SP | SP 17-8: 17 м³/ч; SP 46-6: 46 м³/ч; SP 95-4: 95 м³/ч
Компрессор винтовой | Atlas Copco GA | GA 37 VSD+: 37 кВт; GA 55: 55 кВт; GA 90 VSD: 90 кВт
Компрессор винтовой | Remeza ВК | ВК 30Р-10: 30 кВт; ВК 50Р-8: 50 кВт; ВК 100-10: 100 кВт
Компрессор поршневой | Fiac AB | AB 300-850: 5,5 кВт; AB 500-1000: 7,5 кВт
Осушитель воздуха | Atlas Copco FD | FD 120: 7,2 м³/мин; FD 300: 18 м³/мин
Котёл водогрейный | Buderus Logano | SK755-1200: 1200 кВт; SK745-820: 820 кВт; GE515-400: 400 кВт
Котёл водогрейный | Термотехник | ТТ100-3000: 3000 кВт; ТТ100-5000: 5000 кВт
Котёл паровой | Bosch UL-S | UL-S 2000: 2000 кг/ч; UL-S 5000: 5000 кг/ч; UL-S 8000: 8000 кг/ч
Котёл паровой | Е | Е-1,0-0,9Г: 1000 кг/ч; Е-2,5-0,9Г: 2500 кг/ч
Горелка газовая | Weishaupt | WM-G20/3: 1100 кВт; WM-G30/2: 3000 кВт
Фильтр механический | ФМБ | ФМБ-600: 10 м³/ч; ФМБ-1200: 30 м³/ч; ФМБ-2000: 75 м³/ч
Фильтр обезжелезивания | Birm | FBM-1354: 3 м³/ч; FBM-1865: 7 м³/ч; FBM-3072: 15 м³/ч
Фильтр сетчатый | ФС | ФС-50: Ду50; ФС-100: Ду100; ФС-200: Ду200
Установка обратного осмоса | Осмотикс | RO-1000: 1 м³/ч; RO-2000: 2 м³/ч; RO-5000: 5 м³/ч
Установка умягчения | Clack | SF-1465: 2 м³/ч; SF-2472: 6 м³/ч; SF-3672: 12 м³/ч
Теплообменник пластинчатый | Ридан НН | НН№14: 500 кВт; НН№21: 1200 кВт; НН№41: 3500 кВт
Теплообменник пластинчатый | Alfa Laval | M10-BFG: 800 кВт; T20-MFG: 2500 кВт
Чиллер | Carrier 30RB | 30RB-162: 160 кВт; 30RB-262: 260 кВт; 30RB-522: 520 кВт
Градирня | ГРД | ГРД-50: 50 м³/ч; ГРД-150: 150 м³/ч
Дизель-генератор | Cummins | C220D5: 160 кВт; C400D5: 320 кВт; C700D5: 500 кВт
Вентилятор радиальный | ВР | ВР 80-75 №5: 5,5 кВт; ВР 280-46 №8: 30 кВт
Задвижка | 30с41нж | Ду100: Ру16; Ду200: Ру16; Ду300: Ру25
Клапан регулирующий | Danfoss VFS2 | Ду25: Kvs 10; Ду50: Kvs 40
Ёмкость | ЕП | ЕП-25: 25 м³; ЕП-50: 50 м³; ЕП-100: 100 м³
"""

STATUS_COMMENTS = {
    RequestStatus.IN_PROGRESS: [
        "Клиент согласовал КП, готовим договор", "Получили заявку на поставку", "Согласовали техзадание",
        "Клиент подтвердил бюджет", "Договор на согласовании у юристов клиента",
    ],
    RequestStatus.STALLED: [
        "Клиент не отвечает вторую неделю", "Заморожено до нового финансового года", "Ждём решения руководства",
        "Тендер перенесён", "Клиент сравнивает с предложением конкурента",
    ],
    RequestStatus.COMPLETED: ["Оборудование поставлено, акт подписан", "Оплата получена полностью", "Заказ закрыт"],
    RequestStatus.DEAD: [
        "Клиент выбрал другого поставщика", "Проект отменён", "Не прошли по цене", "Бюджет не выделен",
    ],
}  # fmt: skip
DELIVERY_COMMENTS = {
    DeliveryStatus.PREPARING_SHIPMENT: ["Комплектуем на складе", "Ждём поступления от производителя"],
    DeliveryStatus.SHIPPED: ["Отгружено со склада в Подольске", "Передано перевозчику"],
    DeliveryStatus.IN_TRANSIT: ["В пути, ТК «Деловые линии»", "Груз в пути, трек-номер отправлен клиенту"],
    DeliveryStatus.DELIVERED: ["Доставлено, ТТН подписана", "Получено клиентом"],
}
REQUEST_COMMENTS = [
    "Отправил КП на почту главному инженеру", "Клиент просит скидку 5 %", "Запросили опросный лист",
    "Нужна шеф-монтажная поставка", "Уточнить сроки поставки у производителя", "Созвонились, ждут счёт",
    "Приложили схему обвязки", "Клиент просит аналог подешевле", "Встреча на объекте в четверг",
]  # fmt: skip
REMINDER_TEXTS = [
    "Позвонить по поводу КП", "Отправить спецификацию", "Уточнить статус оплаты", "Напомнить о договоре",
    "Согласовать дату отгрузки", "Поздравить с праздником", "Запросить обратную связь по поставке",
    "Подготовить повторное КП", "Выслать сертификаты", "Сверить взаиморасчёты",
]  # fmt: skip
PAYMENT_TERMS = [
    "100 % предоплата", "50 % аванс, 50 % по факту отгрузки", "30 % аванс, 70 % перед отгрузкой",
    "Отсрочка платежа 30 дней", "Оплата по факту поставки",
]  # fmt: skip

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [*_words("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch"), "", "y", "", "e", "yu", "ya"],
        strict=True,
    )
)


class DemoRefused(Exception):
    """The database already has a client base, and --append was not given."""


@dataclass
class DemoResult:
    counts: Counter = field(default_factory=Counter)
    managers_created: list[str] = field(default_factory=list)
    managers_existing: list[str] = field(default_factory=list)
    password: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"Demo data loaded in {self.seconds:.1f} s:"]
        lines += [f"  {name}: {count}" for name, count in self.counts.items()]
        if self.managers_created:
            lines.append(f"Demo managers (password {self.password}): {', '.join(self.managers_created)}")
        if self.managers_existing:
            lines.append(f"Demo managers kept with their passwords: {', '.join(self.managers_existing)}")
        return "\n".join(lines)


def translit(text: str) -> str:
    out = "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())
    return "".join(ch for ch in out if ch.isascii() and (ch.isalnum() or ch in ".-"))


def inn_check(digits: list[int], weights: Sequence[int]) -> int:
    return sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def make_inn(rng: random.Random, entrepreneur: bool) -> str:
    """A tax number with correct check digits: 10 for a company, 12 for an entrepreneur."""
    region = rng.choice([77, 78, 66, 54, 16, 52, 74, 63, 61, 2, 24, 59, 36, 34, 23, 64, 72, 18, 38, 27])
    digits = [int(c) for c in f"{region:02d}"] + [rng.randrange(10) for _ in range(8 if entrepreneur else 7)]
    if not entrepreneur:
        return "".join(map(str, [*digits, inn_check(digits, (2, 4, 10, 3, 5, 9, 4, 6, 8))]))
    digits.append(inn_check(digits, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
    digits.append(inn_check(digits, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
    return "".join(map(str, digits))


def format_phone(rng: random.Random, code: str, extension: bool = False) -> str:
    """One of the ways people write +7 phones: +7 (495) 123-45-67, 8 495 123 45 67, +74951234567..."""
    n = f"{rng.randrange(2_000_000, 9_999_999):07d}"
    a, b, c = n[:3], n[3:5], n[5:]
    style = rng.randrange(8)
    phone = [
        f"+7 ({code}) {a}-{b}-{c}",
        f"8 ({code}) {a}-{b}-{c}",
        f"8 {code} {a} {b} {c}",
        f"+7{code}{n}",
        f"8-{code}-{a}-{b}-{c}",
        f"({code}) {a}-{b}-{c}",
        f"+7 {code} {a}-{b}-{c}",
        f"8{code}{n}",
    ][style]
    return f"{phone} доб. {rng.randrange(100, 999)}" if extension else phone


def parse_catalogue() -> list[tuple[str, str, str, str]]:
    entries = []
    for line in CATALOGUE.strip().splitlines():
        equipment_type, name, variants = (part.strip() for part in line.split("|"))
        for variant in variants.split(";"):
            subname, _, capacity = (part.strip() for part in variant.partition(":"))
            entries.append((equipment_type, name, subname, capacity))
    return entries


class _Names:
    """Unique company names: "ООО «Уралэнергомаш»", "ИП Петров Андрей Сергеевич"..."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng, self.taken = rng, taken
        self.forms = [form for form, _ in LEGAL_FORMS]
        self.weights = [weight for _, weight in LEGAL_FORMS]

    def person(self) -> tuple[str, str, str, bool]:
        rng = self.rng
        female = rng.random() < 0.4
        surname = rng.choice(SURNAMES)
        if female:
            surname = surname[:-2] + "ая" if surname.endswith("ий") else surname + ("" if surname[-1] == "о" else "а")
        patronymic = rng.choice(MALE_PATRONYMICS)
        if female:
            patronymic = patronymic[:-2] + "на"  # Сергеевич → Сергеевна
        return surname, rng.choice(FEMALE_NAMES if female else MALE_NAMES), patronymic, female

    def brand(self) -> str:
        rng = self.rng
        word = rng.choice(NAME_HEADS) + rng.choice(NAME_MIDDLES) + rng.choice(NAME_TAILS)
        return word if rng.random() < 0.85 else f"{rng.choice(NAME_HEADS)}-{rng.choice(NAME_TAILS).capitalize()}"

    def company(self) -> tuple[str, str, bool]:
        """(name, brand for the domain, is an entrepreneur)."""
        for attempt in range(50):
            form = self.rng.choices(self.forms, self.weights)[0]
            if form == "ИП":
                surname, first, patronymic, _ = self.person()
                name, brand = f"ИП {surname} {first} {patronymic}", f"{surname}"
            else:
                brand = self.brand()
                if attempt > 5:
                    brand = f"{brand}-{self.rng.randrange(2, 99)}"
                name = f"{form} «{brand}»"
            key = name_key(name)
            if key not in self.taken:
                self.taken.add(key)
                return name, brand, form == "ИП"
        raise RuntimeError("could not invent a new company name")


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return start
    return start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))


def ensure_demo_managers(result: DemoResult, password: str | None) -> list[CrmUser]:
    """The demo managers, created if missing (all with the same, printed password)."""
    security = current_app.appbuilder.sm
    users = []
    for username, first, last, scope in DEMO_MANAGERS:
        user = security.find_user(username=username)
        if user is None:
            result.password = result.password or password or secrets.token_urlsafe(12)
            user = accounts.create_manager(username, result.password, f"{username}@example.com", first, last, scope)
            result.managers_created.append(username)
        else:
            result.managers_existing.append(username)
        users.append(user)
    return users


def _reserve_numbers(connection: Connection, year: int, count: int) -> int:
    """Advance the year's counter by `count` in one step; returns the first number of the block."""
    table = RequestNumberCounter.__table__
    advance = (
        update(table)
        .where(table.c.year == year)
        .values(last_value=table.c.last_value + count)
        .returning(table.c.last_value)
    )
    last = connection.execute(advance).scalar_one_or_none()
    if last is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(table).values(year=year, last_value=0))
        except IntegrityError:
            pass  # created meanwhile by a new request
        last = connection.execute(advance).scalar_one()
    return last - count + 1


def _insert(connection: Connection, table: Table, rows: list[dict]) -> None:
    if rows:
        connection.execute(insert(table), rows)


def _insert_returning(connection: Connection, table: Table, rows: list[dict], key: str) -> dict[str, int]:
    """Insert and map each row's unique `key` to its new id (no reliance on row order)."""
    if not rows:
        return {}
    result = connection.execute(insert(table).returning(table.c.id, table.c[key]), rows)
    return {row_key: row_id for row_id, row_key in result}


def _chunks(total: int) -> Iterator[range]:
    for start in range(0, total, CHUNK):
        yield range(start, min(start + CHUNK, total))


class DemoBuilder:
    """Generates and inserts one demo set; kept small in memory by working in chunks."""

    def __init__(self, organizations: int, managers: list[CrmUser], rng: random.Random, result: DemoResult) -> None:
        self.n = organizations
        self.rng = rng
        self.result = result
        self.manager_ids = [user.id for user in managers]
        self.zone = ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])
        self.now = datetime.now(UTC)
        self.today = self.now.astimezone(self.zone).date()
        self.catalogue = parse_catalogue()
        self.catalogue_used: Counter = Counter()
        self.org_ids: list[int] = []
        self.org_responsible: list[int | None] = []
        # (owner, organisation, request) of the reminders to write, picked while requests are made.
        self.reminder_subjects: list[tuple[int | None, int | None, int | None]] = []

    def _at(self, day: date) -> datetime:
        """A moment of that working day in the company's time zone, as UTC, never in the future."""
        local = datetime.combine(day, time(self.rng.randrange(9, 19), self.rng.randrange(60)), tzinfo=self.zone)
        return min(local.astimezone(UTC), self.now)

    # -- the plan: how many contacts and requests each organisation gets, and when --------------

    def plan(self) -> None:
        rng, n = self.rng, self.n
        self.contact_counts = rng.choices([1, 2, 3, 4, 5], [10, 20, 35, 20, 15], k=n)
        request_counts = rng.choices(range(10), [8, 11, 13, 14, 13, 11, 9, 8, 7, 6], k=n)
        owners = [i for i, count in enumerate(request_counts) for _ in range(count)]
        rng.shuffle(owners)
        span = YEARS_BACK * 365
        # More requests lately than three years ago: the business grows.
        days_ago = sorted((int(rng.triangular(0, span, 0)) for _ in owners), reverse=True)
        self.request_plan = [(self.today - timedelta(days=d), org) for d, org in zip(days_ago, owners, strict=True)]
        first_request: dict[int, date] = {}
        for day, org in self.request_plan:
            first_request.setdefault(org, day)
        self.org_created = []
        for i in range(n):
            first = first_request.get(i, self.today - timedelta(days=rng.randrange(span)))
            self.org_created.append(self._at(first - timedelta(days=rng.randrange(0, 60))))

    # -- organisations and contacts ----------------------------------------------------------------

    def organizations(self, connection: Connection, names: _Names) -> None:
        for chunk in _chunks(self.n):
            orgs, contacts_of = [], {}
            for i in chunk:
                org, contacts = self._organization(i, names)
                orgs.append(org)
                contacts_of[org["name_key"]] = contacts
            ids = _insert_returning(connection, Organization.__table__, orgs, "name_key")
            contacts = []
            for org in orgs:
                org_id = ids[org["name_key"]]
                self.org_ids.append(org_id)
                self.org_responsible.append(org["responsible_id"])
                contacts += [{**contact, "organization_id": org_id} for contact in contacts_of[org["name_key"]]]
            _insert(connection, Contact.__table__, contacts)
            self.result.counts["organizations"] += len(orgs)
            self.result.counts["contacts"] += len(contacts)

    def _organization(self, i: int, names: _Names) -> tuple[dict, list[dict]]:
        rng = self.rng
        name, brand, entrepreneur = names.company()
        city, code, postcode = rng.choice(CITIES)
        domain = translit(brand).replace("--", "-").strip("-.") or "company"
        domain = f"{domain}{rng.randrange(1, 99) if rng.random() < 0.3 else ''}.ru"
        created = self.org_created[i]
        responsible = rng.choice(self.manager_ids) if rng.random() < 0.97 else None
        phones = format_phone(rng, code, extension=rng.random() < 0.1)
        if rng.random() < 0.3:
            phones += ", " + format_phone(rng, code)
        org = {
            "name": name,
            "inn": make_inn(rng, entrepreneur),
            "industry": rng.choice(INDUSTRIES),
            "city": city,
            "address": (
                f"{postcode}{rng.randrange(100):03d}, г. {city}, ул. {rng.choice(STREETS)}, д. {rng.randrange(1, 150)}"
                + (f", оф. {rng.randrange(1, 60)}{rng.randrange(10)}" if rng.random() < 0.5 else "")
            ),
            "phones": phones,
            "email": f"{rng.choice(['info', 'office', 'zakaz', 'snab', 'mail'])}@{domain}",
            "website": f"www.{domain}" if rng.random() < 0.7 else None,
            "notes": rng.choice([None, None, None, "Постоянный клиент", "Работают через тендеры", "Дилер"]),
            "responsible_id": responsible,
            "created_on": created,
            "changed_on": created,
            "created_by_fk": responsible,
            "changed_by_fk": responsible,
        }
        contacts = []
        for position in range(self.contact_counts[i]):
            surname, first, patronymic, _ = names.person()
            contacts.append(
                {
                    "full_name": f"{surname} {first} {patronymic}",
                    "position": rng.choice(POSITIONS),
                    "work_phone": format_phone(rng, code, extension=rng.random() < 0.3) if rng.random() < 0.8 else None,
                    "mobile_phone": format_phone(rng, str(rng.randrange(900, 1000))) if rng.random() < 0.85 else None,
                    "email": f"{translit(first)[0]}.{translit(surname)}@{domain}" if rng.random() < 0.8 else None,
                    "notes": None,
                    "is_primary": position == 0,
                    "created_on": created,
                    "changed_on": created,
                    "created_by_fk": responsible,
                    "changed_by_fk": responsible,
                }
            )
        org["name_key"] = name_key(name)
        org["sort_key"] = sort_key(name)
        # In the order Organization.contacts loads them, so a later save computes the same text.
        ordered = sorted(contacts, key=lambda contact: (not contact["is_primary"], contact["full_name"]))
        org["search_text"] = Organization.build_search_text(
            SimpleNamespace(**org), [SimpleNamespace(**contact) for contact in ordered]
        )
        return org, contacts

    # -- requests with items, histories and comments -------------------------------------------------

    def requests(self, connection: Connection, first_numbers: dict[int, int]) -> None:
        next_number = dict(first_numbers)
        for chunk in _chunks(len(self.request_plan)):
            requests, children = [], {}
            for day, org in (self.request_plan[k] for k in chunk):
                number = f"{day.year}-{next_number[day.year]:04d}"
                next_number[day.year] += 1
                request, rows = self._request(number, day, org)
                requests.append(request)
                children[number] = rows
            ids = _insert_returning(connection, Request.__table__, requests, "number")
            tables = {"items": [], "status_changes": [], "delivery_changes": [], "comments": []}
            for number, rows in children.items():
                for kind, kind_rows in rows.items():
                    tables[kind] += [{**row, "request_id": ids[number]} for row in kind_rows]
            _insert(connection, RequestItem.__table__, tables["items"])
            _insert(connection, StatusChange.__table__, tables["status_changes"])
            _insert(connection, DeliveryChange.__table__, tables["delivery_changes"])
            _insert(connection, RequestComment.__table__, tables["comments"])
            self.result.counts["requests"] += len(requests)
            for kind, kind_rows in tables.items():
                self.result.counts[kind] += len(kind_rows)
            self._pick_reminder_subjects([(ids[r["number"]], r) for r in requests])

    def _final_status(self, age_days: int) -> RequestStatus:
        recent = max(0.0, 1 - age_days / 180)  # 1 today, 0 after half a year
        weights = [
            5 + 35 * recent,  # preparing offer
            10 + 35 * recent,  # in progress
            15,  # stalled
            45 - 40 * recent,  # completed
            25 - 20 * recent,  # dead
        ]
        return self.rng.choices(list(RequestStatus), weights)[0]

    def _status_path(self, final: RequestStatus) -> list[RequestStatus]:
        rng, s = self.rng, RequestStatus
        if final == s.PREPARING_OFFER:
            return []
        if final == s.IN_PROGRESS:
            return [s.IN_PROGRESS]
        if final == s.STALLED:
            return [s.IN_PROGRESS, s.STALLED] if rng.random() < 0.5 else [s.STALLED]
        if final == s.COMPLETED:
            return (
                [s.IN_PROGRESS, s.STALLED, s.IN_PROGRESS, s.COMPLETED]
                if rng.random() < 0.15
                else [
                    s.IN_PROGRESS,
                    s.COMPLETED,
                ]
            )
        return [*rng.choice([[], [s.IN_PROGRESS], [s.STALLED], [s.IN_PROGRESS, s.STALLED]]), s.DEAD]

    def _final_delivery(self, status: RequestStatus) -> DeliveryStatus:
        d = list(DeliveryStatus)
        if status == RequestStatus.COMPLETED:
            return self.rng.choices(d, [0, 0, 3, 7, 90])[0]
        if status == RequestStatus.IN_PROGRESS:
            return self.rng.choices(d, [55, 25, 8, 12, 0])[0]
        return DeliveryStatus.NOT_STARTED

    def _items(self, rng: random.Random) -> list[dict]:
        items = []
        for position in range(rng.choices([1, 2, 3, 4], [60, 25, 10, 5])[0]):
            equipment_type, name, subname, capacity = rng.choice(self.catalogue)
            if rng.random() < 0.1:
                capacity = ""
                if rng.random() < 0.4:
                    subname = ""
            quantity = rng.choices([1, 2, 3, rng.randrange(4, 21)], [70, 15, 7, 8])[0]
            items.append(
                {
                    "position": position,
                    "equipment_type": equipment_type,
                    "name": name or None,
                    "subname": subname or None,
                    "capacity": capacity or None,
                    "quantity": quantity,
                }
            )
        return items

    def _request(self, number: str, day: date, org: int) -> tuple[dict, dict[str, list[dict]]]:
        rng = self.rng
        org_responsible = self.org_responsible[org]
        if org_responsible is None or rng.random() < 0.15:
            responsible = rng.choice(self.manager_ids)
        else:
            responsible = org_responsible
        created = self._at(day)
        age = (self.today - day).days
        final = self._final_status(age)
        # Changes happen within a few months of the request, never in the future.
        horizon = min(self.now, created + timedelta(days=rng.randrange(3, 150)))
        moments = sorted(_between(rng, created, horizon) for _ in range(8))
        # The first line is the one prepare_new_request writes: no old value, no comment.
        status_rows = [
            {
                "old_value": None,
                "new_value": RequestStatus.PREPARING_OFFER.value,
                "comment": "",
                "changed_on": created,
                "changed_by_fk": responsible,
            }
        ]
        previous = RequestStatus.PREPARING_OFFER
        path = self._status_path(final)
        for step, status in enumerate(path):
            status_rows.append(
                {
                    "old_value": previous.value,
                    "new_value": status.value,
                    "comment": rng.choice(STATUS_COMMENTS[status]),
                    "changed_on": moments[min(2 * step + 1, 7)],
                    "changed_by_fk": responsible,
                }
            )
            previous = status
        delivery = self._final_delivery(final)
        steps = list(DeliveryStatus)[1 : list(DeliveryStatus).index(delivery) + 1]
        # Delivery moves once the request is in progress, and is over when the order is completed.
        start = status_rows[1]["changed_on"] if len(status_rows) > 1 else created
        end = status_rows[-1]["changed_on"] if final == RequestStatus.COMPLETED else horizon
        delivery_moments = sorted(_between(rng, start, end) for _ in steps)
        delivery_rows = []
        previous_delivery = DeliveryStatus.NOT_STARTED
        for moment, status in zip(delivery_moments, steps, strict=True):
            delivery_rows.append(
                {
                    "old_value": previous_delivery.value,
                    "new_value": status.value,
                    "comment": rng.choice(DELIVERY_COMMENTS[status]),
                    "changed_on": moment,
                    "changed_by_fk": responsible,
                }
            )
            previous_delivery = status
        comments = [
            {
                "text": rng.choice(REQUEST_COMMENTS),
                "author_id": responsible,
                "created_on": _between(rng, created, horizon),
            }
            for _ in range(rng.choices([0, 1, 2, 3], [35, 35, 20, 10])[0])
        ]
        comments.sort(key=lambda c: c["created_on"])
        items = self._items(rng)
        for key in {tuple((item[f] or "") for f in CATALOGUE_FIELDS) for item in items}:
            self.catalogue_used[key] += 1  # as remember_items counts: once per request
        changed = max([created] + [r["changed_on"] for r in status_rows + delivery_rows])
        priced = final in (RequestStatus.IN_PROGRESS, RequestStatus.COMPLETED) or rng.random() < 0.2
        request = {
            "number": number,
            "request_date": day,
            "organization_id": self.org_ids[org],
            "responsible_id": responsible,
            "status": final.value,
            "delivery_status": delivery.value,
            "equipment_text": "\n".join(RequestItem.describe(SimpleNamespace(**item)) for item in items),
            "payment_terms": rng.choice(PAYMENT_TERMS) if priced else None,
            "contract_number": f"Д-{day.year}/{number[-4:]}" if final == RequestStatus.COMPLETED else None,
            "invoice_number": f"СЧ-{rng.randrange(1, 9999):04d}" if final == RequestStatus.COMPLETED else None,
            "contract_price": Decimal(rng.randrange(150, 25_000)) * 1000 if priced else None,
            "currency": rng.choices(["RUB", "EUR", "USD", "CNY"], [88, 6, 3, 3])[0] if priced else "RUB",
            "finance_comment": None,
            "created_on": created,
            "changed_on": changed,
            "created_by_fk": responsible,
            "changed_by_fk": responsible,
        }
        children = {
            "items": items,
            "status_changes": status_rows,
            "delivery_changes": delivery_rows,
            "comments": comments,
        }
        return request, children

    # -- reminders ------------------------------------------------------------------------------------

    def _pick_reminder_subjects(self, requests: list[tuple[int, dict]]) -> None:
        """About one reminder per five organisations, most about a request, some about a client."""
        for request_id, request in requests:
            if self.rng.random() < 0.04:
                self.reminder_subjects.append((request["responsible_id"], None, request_id))
            if self.rng.random() < 0.015:
                self.reminder_subjects.append((request["responsible_id"], request["organization_id"], None))

    def reminders(self, connection: Connection) -> None:
        rng, rows = self.rng, []
        subjects = self.reminder_subjects
        subjects += [(rng.choice(self.manager_ids), None, None) for _ in range(max(1, len(subjects) // 10))]
        for owner, organization_id, request_id in subjects:
            if rng.random() < 0.3:  # still ahead: e-mailed at its time
                due = self.now + timedelta(minutes=rng.randrange(60, 30 * 24 * 60))
                state = {"delivery": Delivery.PENDING.value, "attempts": 0, "sent_at": None, "done_at": None}
            else:  # already e-mailed; most of them done
                due = self.now - timedelta(minutes=rng.randrange(60, YEARS_BACK * 365 * 24 * 60))
                done = due + timedelta(hours=rng.randrange(1, 72)) if rng.random() < 0.85 else None
                state = {"delivery": Delivery.SENT.value, "attempts": 1, "sent_at": due, "done_at": done}
            rows.append(
                {
                    "owner_id": owner,
                    "organization_id": organization_id,
                    "request_id": request_id,
                    "text": rng.choice(REMINDER_TEXTS),
                    "due_at": due,
                    "next_attempt_at": due,
                    "claimed_at": state["sent_at"],
                    "last_error": None,
                    "created_on": min(due, self.now) - timedelta(days=rng.randrange(0, 14)),
                    **state,
                }
            )
        for start in range(0, len(rows), CHUNK):
            _insert(connection, Reminder.__table__, rows[start : start + CHUNK])
        self.result.counts["reminders"] += len(rows)

    # -- the catalogue ------------------------------------------------------------------------------

    def catalogue_entries(self, connection: Connection) -> None:
        """Add what the items used, counting uses as the application does."""
        table = CatalogueEntry.__table__
        known = {
            tuple(row[1:]): row[0]
            for row in connection.execute(select(table.c.id, *(table.c[f] for f in CATALOGUE_FIELDS)))
        }
        new = []
        for key, uses in self.catalogue_used.items():
            if key in known:
                connection.execute(
                    update(table).where(table.c.id == known[key]).values(times_used=table.c.times_used + uses)
                )
            else:
                new.append({**dict(zip(CATALOGUE_FIELDS, key, strict=True)), "times_used": uses})
        _insert(connection, table, new)
        self.result.counts["catalogue entries"] = len(self.catalogue_used)


def load_demo(
    organizations: int,
    *,
    append: bool = False,
    seed: int | None = None,
    password: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Fill the database with `organizations` demo clients (about 3 contacts and 4 requests each).

    Refuses a database that already has organisations unless `append` is set. Everything but the
    managers and the request-number block goes in one transaction: all of it or nothing.
    """
    started = timer.monotonic()
    say = progress or (lambda _message: None)
    engine = db.engine
    with engine.connect() as connection:
        existing = connection.execute(select(func.count()).select_from(Organization.__table__)).scalar_one()
    if existing and not append:
        raise DemoRefused(f"the database already has {existing} organisations; add --append to add more")
    result = DemoResult()
    rng = random.Random(seed)
    managers = ensure_demo_managers(result, password)
    db.session.commit()
    builder = DemoBuilder(organizations, managers, rng, result)
    builder.plan()
    years = Counter(day.year for day, _ in builder.request_plan)
    with engine.begin() as connection:  # a short transaction: new requests meanwhile take later numbers
        first_numbers = {year: _reserve_numbers(connection, year, count) for year, count in sorted(years.items())}
    with engine.begin() as connection:
        taken = set(connection.execute(select(Organization.__table__.c.name_key)).scalars())
        say(f"Organisations and contacts ({organizations})...")
        builder.organizations(connection, _Names(rng, taken))
        say(f"Requests ({len(builder.request_plan)}) with items, histories and comments...")
        builder.requests(connection, first_numbers)
        say("Reminders and the equipment catalogue...")
        builder.reminders(connection)
        builder.catalogue_entries(connection)
    request_counts.forget()  # the requests went in past the ORM session
    # The session's open transaction (it re-read the managers) would keep VACUUM from marking the
    # new rows visible to all, and PostgreSQL's index-only scans need that mark.
    db.session.close()
    say("Refreshing the planner's statistics...")
    refresh_statistics()
    result.seconds = timer.monotonic() - started
    return result


def refresh_statistics() -> None:
    """After a bulk load the planner knows nothing of the new rows until autovacuum comes by; tell it
    now (on PostgreSQL VACUUM also marks the pages all-visible, which index-only scans need)."""
    tables = [
        model.__tablename__
        for model in (Organization, Contact, Request, RequestItem, StatusChange, DeliveryChange, RequestComment)
    ] + [Reminder.__tablename__, CatalogueEntry.__tablename__, RequestNumberCounter.__tablename__]
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")
        else:
            connection.exec_driver_sql("ANALYZE")
