"""Deterministic demo data: a Taobao live-stream shop assistant (直播助手).

`generate(seed=..., n=...)` returns OpenAI chat fine-tuning rows (user request → assistant tool
call, plain answer or clarifying question); `TOOLS`, `SYSTEM_PROMPT` and `GUIDELINES` are what
the demo project holds. Every argument follows from the request text, so a model can learn the
extraction: Chinese numerals become numbers (满三百减五十 → threshold 300, amount 50), hours
become minutes, 无门槛 becomes threshold 0, optional arguments appear only when stated.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

__all__ = ["GUIDELINES", "SYSTEM_PROMPT", "TOOLS", "generate", "write_jsonl", "zh_numeral"]

FAQ_TOPICS = ["shipping", "returns", "size", "authenticity", "payment", "warranty"]
ENTRY_METHODS = ["comment", "like", "follow", "share"]


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_PRODUCT = {"type": "string", "description": "商品名，按主播的原话填写 / product name as said"}
_MINUTES = "分钟数（1小时=60） / minutes"

TOOLS: list[dict] = [
    _tool(
        "list_product",
        "上架商品到直播间购物车（小黄车） / List a product in the live-stream cart.",
        {
            "product_name": _PRODUCT,
            "price": {"type": "number", "exclusiveMinimum": 0, "description": "售价（元）"},
            "stock": {"type": "integer", "minimum": 1, "description": "库存件数 / units"},
            "link_number": {"type": "integer", "minimum": 1, "description": "链接号 / cart slot"},
        },
        ["product_name", "price"],
    ),
    _tool(
        "remove_product",
        "下架商品 / Remove a product from the live-stream cart.",
        {"product_name": _PRODUCT},
        ["product_name"],
    ),
    _tool(
        "issue_coupon",
        "发放直播间优惠券 / Issue coupons to viewers.",
        {
            "amount": {"type": "integer", "minimum": 1, "description": "面额（元）/ yuan off"},
            "threshold": {
                "type": "integer",
                "minimum": 0,
                "description": "使用门槛：满多少元可用，0 表示无门槛 / minimum spend, 0 = none",
            },
            "quantity": {"type": "integer", "minimum": 1, "description": "发放张数 / count"},
            "valid_minutes": {"type": "integer", "minimum": 1, "description": _MINUTES},
        },
        ["amount", "quantity"],
    ),
    _tool(
        "check_stock",
        "查询商品库存 / Check how many units of a product are left.",
        {
            "product_name": _PRODUCT,
            "variant": {"type": "string", "description": "规格：颜色、尺码、口味等 / variant"},
        },
        ["product_name"],
    ),
    _tool(
        "pin_comment",
        "在评论区（公屏）置顶一条评论 / Pin a comment at the top of the chat.",
        {
            "content": {"type": "string", "minLength": 1, "description": "置顶内容，原文"},
            "duration_minutes": {"type": "integer", "minimum": 1, "description": _MINUTES},
        },
        ["content"],
    ),
    _tool(
        "answer_faq",
        "用标准话术回复观众的常见问题 / Answer a viewer's frequently asked question.",
        {
            "topic": {
                "type": "string",
                "enum": FAQ_TOPICS,
                "description": "发货、退换、尺码、正品、付款、保修",
            },
            "product_name": _PRODUCT,
            "viewer": {"type": "string", "description": "提问观众的昵称 / viewer nickname"},
        },
        ["topic"],
    ),
    _tool(
        "start_flash_sale",
        "开启限时秒杀 / Start a time-limited flash sale.",
        {
            "product_name": _PRODUCT,
            "price": {"type": "number", "exclusiveMinimum": 0, "description": "秒杀价（元）"},
            "duration_minutes": {"type": "integer", "minimum": 1, "description": _MINUTES},
            "quantity": {"type": "integer", "minimum": 1, "description": "限量件数 / units"},
        },
        ["product_name", "price", "duration_minutes"],
    ),
    _tool(
        "set_lottery",
        "设置直播间抽奖（福袋） / Set up a giveaway draw.",
        {
            "prize": {"type": "string", "description": "奖品 / prize"},
            "winners": {"type": "integer", "minimum": 1, "description": "中奖人数 / winners"},
            "entry_method": {
                "type": "string",
                "enum": ENTRY_METHODS,
                "description": "参与方式：评论、点赞、关注、分享",
            },
            "keyword": {"type": "string", "description": "评论口令 / comment keyword"},
            "duration_minutes": {"type": "integer", "minimum": 1, "description": "几分钟后开奖"},
        },
        ["prize", "winners"],
    ),
]

SYSTEM_PROMPT = """# 角色
你是一个淘宝直播的助手，请使用你的能力去帮助主播完成直播的一系列工作。
### instruction
- 不论用户输入什么，您都需要严格遵循每个技能的标准流程以确保工作无误。
- 主播要你执行操作（上架、下架、发券、查库存、置顶评论、回复常见问题、秒杀、抽奖）\
时，调用对应的工具，参数严格取自主播的原话：中文数字换算成阿拉伯数字，小时换算成分钟，没说的可选参数不要填。
- 必填信息缺失或指代不明（例如发券没说面额、“这个还有货吗”没说哪件商品）时，不要猜，用一句话追问。
- 不需要执行操作的问题（直播技巧、话术、寒暄）直接用文字回答，简洁友好。
- 用主播使用的语言回复（中文或英文）。"""

GUIDELINES = """# 直播助手标注指南 / Annotation guidelines

Each record is one request from the streamer and one assistant turn. The assistant turn is
exactly one of: **a tool call**, **a clarifying question**, or **a plain text answer**.

## 1. Pick the tool
| the streamer wants to… | tool |
|---|---|
| 上架 / 上车 / 上链接 / list a product | `list_product` |
| 下架 / 撤链接 / take down a product | `remove_product` |
| 发券 / 满减 / 无门槛 / issue coupons | `issue_coupon` |
| 查库存 / 还有货吗 / check stock | `check_stock` |
| 置顶 / 钉在公屏 / pin a comment | `pin_comment` |
| 回复观众的常见问题 (发货、退换、尺码、正品、付款、保修) | `answer_faq` |
| 秒杀 / 闪购 / flash sale | `start_flash_sale` |
| 抽奖 / 福袋 / giveaway | `set_lottery` |

One request, one tool. If the streamer asks for advice, a script line or just chats, answer in
text and call no tool.

## 2. Fill the arguments
- Take every value from the request. Never invent an optional argument that was not said.
- Numbers are JSON numbers: `满三百减五十` → `threshold: 300, amount: 50`; `两百件` → `200`;
  `9块9` → `9.9`. Prices are in yuan.
- Durations are minutes: `半小时` → `30`, `一个半小时` → `90`, `2 hours` → `120`.
- `无门槛` / `no-minimum` coupon → `threshold: 0`. A coupon with no stated threshold leaves
  `threshold` out.
- `product_name`, `content`, `prize`, `keyword`, `viewer`, `variant`: copy the words exactly as
  written (no quotes, no extra words).
- Enums: `entry_method` 评论/扣/comment → `comment`, 点赞/like → `like`, 关注/follow →
  `follow`, 分享/share → `share`; a comment keyword (`评论“666”`) implies `comment`.
  `topic`: 发货/快递/包邮 → `shipping`, 退换 → `returns`, 尺码 → `size`, 正品 → `authenticity`,
  花呗/分期/付款 → `payment`, 保修/维修 → `warranty`.

## 3. Ask a clarifying question when…
- a required argument is missing (`发个优惠券` has no amount; `把X上架` has no price;
  `开个秒杀` has no price or duration; `来个抽奖` has no prize or winner count);
- the product is only pointed at (`这个`, `那个`, `that one`).

Ask one short question in the streamer's language naming exactly what is missing; do not call
a tool in the same turn.

## 4. Plain answers
Short, practical, in the streamer's language. No absolute claims (`最便宜`, `第一`) — the
Advertising Law forbids them on stream.
"""

# (zh name, en name, category, list price in yuan)
_CATALOGUE: list[tuple[str, str, str, float]] = [
    ("纯棉白T恤", "White Cotton T-shirt", "clothing", 59),
    ("高腰牛仔裤", "High-waist Jeans", "clothing", 129),
    ("羊毛针织开衫", "Wool Cardigan", "clothing", 239),
    ("冰丝防晒衣", "Ice-silk Sun Jacket", "clothing", 89),
    ("连帽卫衣", "Hooded Sweatshirt", "clothing", 139),
    ("真丝睡衣套装", "Silk Pajama Set", "clothing", 299),
    ("缓震跑鞋", "Cushioned Running Shoes", "clothing", 399),
    ("轻薄羽绒服", "Lightweight Down Jacket", "clothing", 599),
    ("玻尿酸保湿面膜", "Hyaluronic Sheet Mask", "beauty", 69),
    ("烟酰胺精华液", "Niacinamide Serum", "beauty", 159),
    ("丝绒哑光口红", "Velvet Matte Lipstick", "beauty", 99),
    ("氨基酸洗面奶", "Amino Acid Cleanser", "beauty", 49),
    ("防晒喷雾", "Sunscreen Spray", "beauty", 79),
    ("气垫粉底", "Cushion Foundation", "beauty", 189),
    ("护手霜礼盒", "Hand Cream Gift Set", "beauty", 59.9),
    ("每日坚果", "Daily Mixed Nuts", "food", 89),
    ("柳州螺蛳粉", "Liuzhou Luosifen", "food", 39.9),
    ("云南小粒咖啡", "Yunnan Coffee Beans", "food", 69),
    ("手撕牛肉干", "Hand-torn Beef Jerky", "food", 59),
    ("西湖龙井", "West Lake Longjing Tea", "food", 268),
    ("草莓冻干", "Freeze-dried Strawberries", "food", 29.9),
    ("低糖燕麦片", "Low-sugar Oatmeal", "food", 35),
    ("五常大米", "Wuchang Rice", "food", 79),
    ("蓝牙耳机", "Bluetooth Earbuds", "electronics", 199),
    ("快充充电宝", "Fast-charge Power Bank", "electronics", 99),
    ("智能手环", "Smart Band", "electronics", 249),
    ("机械键盘", "Mechanical Keyboard", "electronics", 329),
    ("声波电动牙刷", "Sonic Electric Toothbrush", "electronics", 159),
    ("迷你投影仪", "Mini Projector", "electronics", 899),
    ("无线充电器", "Wireless Charger", "electronics", 69),
    ("乳胶枕", "Latex Pillow", "home", 129),
    ("全棉四件套", "Cotton Bedding Set", "home", 269),
    ("空气炸锅", "Air Fryer", "home", 349),
    ("保温杯", "Insulated Bottle", "home", 79),
    ("香薰蜡烛", "Scented Candle", "home", 49),
    ("折叠收纳箱", "Folding Storage Box", "home", 39.9),
    ("不粘炒锅", "Non-stick Wok", "home", 199),
    ("硅藻泥地垫", "Diatomite Bath Mat", "home", 45),
    ("除螨仪", "Dust Mite Vacuum", "home", 299),
    ("儿童保温饭盒", "Kids' Lunch Box", "home", 89),
]

_VARIANTS = {
    "clothing": (
        ["黑色M码", "白色L码", "S码", "XL码", "灰色"],
        ["black, size M", "white, size L", "size S", "size XL", "grey"],
    ),
    "beauty": (
        ["50ml装", "30ml装", "01号色", "02号色", "旅行装"],
        ["50 ml", "30 ml", "shade 01", "shade 02", "travel size"],
    ),
    "food": (
        ["500g装", "原味", "香辣味", "1kg装", "礼盒装"],
        ["500 g", "original flavour", "spicy", "1 kg", "gift box"],
    ),
    "electronics": (
        ["黑色", "白色", "蓝色", "标准版", "Pro版"],
        ["black", "white", "blue", "standard edition", "Pro edition"],
    ),
    "home": (
        ["灰色", "米白色", "大号", "小号", "两件装"],
        ["grey", "off-white", "large", "small", "2-pack"],
    ),
}

_PIN_CONTENT = (
    [
        "今晚8点抽奖，记得点关注",
        "新人下单立减10元",
        "今天全场包邮",
        "点关注领5元无门槛券",
        "尺码不确定的宝宝私信客服",
        "明晚7点同一时间开播",
        "拍下后48小时内发货",
        "今天全场买二送一",
        "1号链接库存不多了",
        "有问题扣问号，主播一一回答",
        "下单备注主播名字送小样",
        "福袋每15分钟开一次",
    ],
    [
        "Giveaway at 8 pm tonight, follow to join",
        "New customers get 10 yuan off",
        "Free shipping on everything today",
        "Follow us for a 5 yuan coupon",
        "Not sure about sizes? Message customer service",
        "Same time tomorrow, 7 pm",
        "All orders ship within 48 hours",
        "Buy two get one free today",
        "Link 1 is almost sold out",
        "Type ? and the host will answer",
        "Free sample with every order tonight",
    ],
)

_VIEWERS = (
    ["小美", "阿杰", "甜甜圈", "用户8848", "橙子酱", "大白", "momo", "奶茶不加糖"],
    ["Lily", "Jason", "sunny_day", "Mia88", "Tom", "KittyK", "noodle_fan"],
)
_PRIZES = (
    ["100元红包", "神秘礼盒", "免单", "主播签名照", "50元无门槛券"],
    ["100 yuan red packet", "mystery gift box", "signed photo", "free order"],
)
_KEYWORDS = (
    ["666", "想要", "冲冲冲", "主播好美", "上车"],
    ["666", "want it", "lucky me", "pick me"],
)

_FAQ_PHRASES = {
    "shipping": (
        ["什么时候发货", "几天能到", "发什么快递", "包不包邮"],
        ["when it will ship", "how long delivery takes", "if shipping is free"],
    ),
    "returns": (
        ["能不能退换", "支持七天无理由吗", "不合适可以退吗", "退货运费谁出"],
        ["if they can return it", "whether there's a 7-day return policy", "who pays for returns"],
    ),
    "size": (
        ["尺码怎么选", "一米六穿什么码", "偏大还是偏小"],
        ["which size to get", "if it runs small", "what size fits 160 cm"],
    ),
    "authenticity": (
        ["是不是正品", "有没有防伪码", "是官方授权的吗"],
        ["if it's genuine", "whether it's authentic", "if there's an anti-counterfeit code"],
    ),
    "payment": (
        ["能用花呗吗", "可以分期吗", "能不能货到付款"],
        ["if they can pay in installments", "whether Huabei works", "if cash on delivery is ok"],
    ),
    "warranty": (
        ["保修多久", "坏了能修吗", "有没有质保"],
        ["how long the warranty is", "if it can be repaired", "whether there's a warranty"],
    ),
}
_METHOD_WORDS = {
    "comment": (["评论", "发评论"], ["comment", "leave a comment"]),
    "like": (["点赞", "点个赞"], ["like the stream", "tap like"]),
    "follow": (["关注主播", "点关注"], ["follow us", "follow the host"]),
    "share": (["分享直播间", "转发直播间"], ["share the stream", "share the live room"]),
}

_ZH, _EN = 0, 1

# Templates: {key} or {key:style}; a template's placeholders are exactly the call's arguments.
_TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "list_product": (
        [
            "上架{product_name}，价格{price:money}",
            "把{product_name}上架，卖{price:money}",
            "{product_name}上车，{price:money}",
            "帮我上一下{product_name}，定价{price:money}，库存{stock}件",
            "{product_name}挂{link_number:d}号链接，{price:money}",
            "新品{product_name}上架，售价{price:money}，备货{stock}件",
            "上链接！{product_name}，{price:money}",
            "把{product_name}加到小黄车，价格{price:money}",
            "{product_name}现在上架，{price:money}一件，放{stock}件库存",
            "请上架商品：{product_name}，价格{price:money}，放在{link_number:d}号链接",
            "{price:money}的{product_name}上一下",
            "{product_name}上架 {price:money} {stock}件",
            "麻烦把{product_name}上到{link_number:d}号链接，价格{price:money}，库存{stock}件",
        ],
        [
            "list the {product_name} at {price:money}",
            "put the {product_name} up for {price:money}",
            "add {product_name} to the shop, price {price:money}",
            "new item: {product_name}, {price:money}, {stock} in stock",
            "list {product_name} on link {link_number:d} for {price:money}",
            "can you list the {product_name}? {price:money} each",
            "{product_name} goes live now at {price:money}, stock {stock}",
            "put {product_name} in the cart at {price:money}",
            (
                "add the {product_name} as link {link_number:d}, priced at {price:money}, {stock} "
                "units"
            ),
            "launch {product_name}, {price:money}",
            "get the {product_name} listed, {price:money}, {stock} pieces",
            "{product_name} at {price:money}, list it",
        ],
    ),
    "remove_product": (
        [
            "下架{product_name}",
            "把{product_name}下架",
            "{product_name}先撤下来",
            "{product_name}卖完了，下架吧",
            "{product_name}的链接撤掉",
            "把{product_name}从小黄车里拿掉",
            "{product_name}不卖了，下掉",
            "请将{product_name}下架处理",
            "{product_name}价格标错了，赶紧下架",
            "先把{product_name}下了",
            "{product_name}暂时下架",
            "{product_name}没货了，链接下了吧",
        ],
        [
            "take down the {product_name}",
            "remove {product_name} from the shop",
            "delist the {product_name}",
            "the {product_name} is sold out, pull it",
            "pull the {product_name} link",
            "{product_name} has the wrong price, take it down now",
            "remove the {product_name} listing",
            "unlist {product_name}",
            "get {product_name} out of the cart",
            "we're done with the {product_name}, remove it",
            "kill the {product_name} link",
            "could you delist {product_name} for now",
        ],
    ),
    "issue_coupon": (
        [
            "发{quantity}张满{threshold}减{amount}的优惠券",
            "来一波满{threshold}减{amount}的券，{quantity}张",
            "发优惠券：满{threshold}减{amount}，共{quantity}张，{valid_minutes:min}有效",
            "给直播间发{quantity}张{amount}元{threshold:none}券",
            "{amount}块的{threshold:none}优惠券发{quantity}张",
            "满{threshold}减{amount}，发{quantity}张，限时{valid_minutes:min}",
            "上{quantity}张券，满{threshold}可用，减{amount}",
            "发个满{threshold}减{amount}的券，放{quantity}张",
            "优惠券安排上：{amount}元{threshold:none}，{quantity}张",
            "请发放优惠券，面额{amount}元，使用门槛{threshold}元，数量{quantity}张，有效期{valid_minutes:min}",
            "发{quantity}张{amount}元券，满{threshold}能用",
            "粉丝福利，{quantity}张满{threshold}减{amount}，{valid_minutes:min}内有效",
            "{threshold:none}券{amount}元，{quantity}张，{valid_minutes:min}后失效",
            "发{quantity}张{amount}元优惠券",
        ],
        [
            "issue {quantity} coupons, {amount} off orders over {threshold}",
            "drop {quantity} coupons: spend {threshold}, save {amount}",
            "send out a {amount} yuan {threshold:none} coupon, {quantity} of them",
            (
                "coupon time: {amount} off {threshold:d}+, {quantity} coupons, valid for "
                "{valid_minutes:min}"
            ),
            "give the room {quantity} {threshold:none} coupons worth {amount} yuan",
            "{quantity} coupons, {amount} yuan off when you spend {threshold}",
            (
                "issue coupons: amount {amount}, minimum spend {threshold}, quantity {quantity}, "
                "valid {valid_minutes:min}"
            ),
            "release {quantity} coupons worth {amount} on orders of {threshold} or more",
            (
                "hand out {quantity:d} x {amount} yuan coupons, {threshold:none}, expiring in "
                "{valid_minutes:min}"
            ),
            "can we do {amount} off {threshold} coupons? {quantity} of them",
            (
                "flash coupons: {quantity} pieces, {amount} off over {threshold}, "
                "{valid_minutes:min} only"
            ),
            "{amount:d}-yuan {threshold:none} coupons x{quantity:d}",
            "issue {quantity} coupons worth {amount} yuan each",
        ],
    ),
    "check_stock": (
        [
            "{product_name}还有多少库存",
            "查一下{product_name}的库存",
            "{product_name}还剩几件",
            "{product_name}{variant}还有货吗",
            "看看{product_name}{variant}还剩多少",
            "{product_name}库存多少了",
            "帮我查{product_name}有没有货",
            "{variant}的{product_name}还有吗",
            "{product_name}卖了不少了，还剩多少",
            "请查询{product_name}（{variant}）的库存",
            "{product_name}够不够卖",
            "有人问{product_name}{variant}有没有，查下库存",
        ],
        [
            "how many {product_name} do we have left",
            "check stock on the {product_name}",
            "is the {product_name} in {variant} still available",
            "what's the inventory for {product_name}",
            "any {product_name} left in {variant}",
            "stock check: {product_name}",
            "how much {product_name} stock remains",
            "can you check if we still have the {product_name}, {variant}",
            "do we have enough {product_name}",
            "look up the inventory of {product_name} ({variant})",
            "someone's asking about {product_name} in {variant}, check stock",
            "look up remaining stock for the {product_name}",
        ],
    ),
    "pin_comment": (
        [
            "把“{content}”置顶",
            "置顶评论：{content}",
            "帮我置顶一条：{content}",
            "评论区置顶“{content}”，挂{duration_minutes:min}",
            "公屏置顶：{content}",
            "把这句置顶一下：{content}",
            "置顶“{content}”",
            "发一条置顶公告“{content}”，置顶{duration_minutes:min}",
            "顶一下这条：“{content}”",
            "请将评论“{content}”设为置顶",
            "“{content}”这句帮我钉在评论区",
            "把“{content}”钉在公屏上{duration_minutes:min}",
        ],
        [
            'pin "{content}"',
            "pin this comment: {content}",
            'put "{content}" at the top of the chat',
            'pin "{content}" for {duration_minutes:min}',
            "can you pin this: {content}",
            'stick "{content}" to the top',
            'pin a notice saying "{content}"',
            'pin the comment "{content}" for {duration_minutes:min}',
            "top comment: {content}",
            'keep "{content}" pinned for {duration_minutes:min}',
            'pin it: "{content}"',
            'make "{content}" the pinned message',
        ],
    ),
    "answer_faq": (
        [
            "有人问{topic:faq}，回复一下",
            "回复观众：{topic:faq}",
            "{viewer}问{topic:faq}，帮我回一下",
            "好多人在问{product_name}{topic:faq}，统一回复下",
            "弹幕问{topic:faq}，你来答",
            "帮我回答一下{viewer}的问题：{topic:faq}",
            "{product_name}{topic:faq}？有人问，回复一下",
            "回一下评论区：{topic:faq}",
            "观众{viewer}想知道{topic:faq}",
            "有宝宝问{product_name}{topic:faq}，帮忙解答",
            "常见问题回复：{topic:faq}",
            "评论里一直在问{topic:faq}，回复一下吧",
        ],
        [
            "someone's asking {topic:faq}, reply to them",
            "reply to the viewers asking {topic:faq}",
            "{viewer} wants to know {topic:faq}",
            "lots of people asking about the {product_name}, {topic:faq}, answer that",
            "answer {viewer}, who asked {topic:faq}",
            "chat wants to know {topic:faq}, can you handle it",
            "FAQ reply: viewers ask {topic:faq}",
            "viewers keep asking {topic:faq}, respond to them",
            "{viewer} asked about the {product_name}, {topic:faq}",
            "respond to the comment asking {topic:faq}",
            "handle this for me: people want to know {topic:faq}",
            "a viewer wants to know about the {product_name}, {topic:faq}",
        ],
    ),
    "start_flash_sale": (
        [
            "{product_name}开秒杀，{price:money}，{duration_minutes:min}",
            "{product_name}秒杀价{price:money}，限时{duration_minutes:min}",
            "开一场秒杀：{product_name}，{price:money}，{quantity}件，{duration_minutes:min}",
            "限时{duration_minutes:min}，{product_name}只要{price:money}",
            "{product_name}来个秒杀，{price:money}，就{quantity}件，{duration_minutes:min}结束",
            "秒杀走起！{product_name}{price:money}，持续{duration_minutes:min}",
            "{product_name}限量{quantity}件秒杀，{price:money}，{duration_minutes:min}",
            "请为{product_name}开启限时秒杀，秒杀价{price:money}，时长{duration_minutes:min}",
            "{duration_minutes:min}秒杀，{product_name}直降到{price:money}",
            "给{product_name}上个闪购，{price:money}，{duration_minutes:min}",
            "{product_name}{price:money}秒了，给{duration_minutes:min}",
            "开个{duration_minutes:min}的秒杀，{product_name}，秒杀价{price:money}，放{quantity}件",
        ],
        [
            "flash sale on the {product_name}: {price:money} for {duration_minutes:min}",
            "start a {duration_minutes:minadj} flash sale, {product_name} at {price:money}",
            "{product_name} flash deal, {price:money}, {quantity} units, {duration_minutes:min}",
            "run a flash sale: {product_name} down to {price:money}, lasts {duration_minutes:min}",
            "limited time: {product_name} for just {price:money}, {duration_minutes:min}",
            (
                "kick off a flash sale for the {product_name} at {price:money}, only {quantity} "
                "available, {duration_minutes:min}"
            ),
            (
                "start a flash sale. product: {product_name}, price: {price:money}, duration: "
                "{duration_minutes:min}"
            ),
            "{price:money} flash sale on {product_name} for the next {duration_minutes:min}",
            "let's do a quick sale, {product_name} at {price:money} for {duration_minutes:min}",
            (
                "flash sale! {product_name}, {price:money}, {quantity} pieces, ends in "
                "{duration_minutes:min}"
            ),
            "drop the {product_name} to {price:money} for {duration_minutes:min} as a flash sale",
            (
                "set up a {duration_minutes:minadj} flash sale on {quantity} units of the "
                "{product_name} at {price:money}"
            ),
        ],
    ),
    "set_lottery": (
        [
            "抽{winners}个人送{prize}",
            "来个抽奖，奖品{prize}，抽{winners}位",
            "{entry_method:method}参与抽奖，送{winners}份{prize}",
            "开抽奖：{prize}，{winners}个名额，{duration_minutes:min}后开奖",
            "评论“{keyword}”抽{winners}个宝宝送{prize}",
            "{entry_method:method}的宝宝里抽{winners}个，送{prize}",
            "福袋安排：{prize}，{winners}份，{duration_minutes:min}开奖",
            "设置抽奖，{prize}，中奖{winners}人，参与方式{entry_method:method}",
            "抽{winners}位送{prize}，{entry_method:method}就能参与，{duration_minutes:min}后开",
            "搞个抽奖吧，{prize}送{winners}个人",
            "请设置抽奖：奖品{prize}，中奖人数{winners}，{duration_minutes:min}后开奖",
            "扣“{keyword}”抽{winners}位送{prize}",
        ],
        [
            "giveaway: {winners} winners get the {prize}",
            "run a lottery for the {prize}, {winners} winners",
            "{entry_method:method} to enter, {winners} people win the {prize}",
            "start a giveaway, prize {prize}, {winners} winners, draw in {duration_minutes:min}",
            'comment "{keyword}" to win the {prize}, {winners} winners',
            "lucky draw: {prize} x{winners:d}, {entry_method:method} to join",
            "set up a raffle. prize: {prize}, winners: {winners}, entry: {entry_method:method}",
            "pick {winners} winners for the {prize}, draw in {duration_minutes:min}",
            (
                "giveaway time! {winners} lucky viewers get the {prize}, {entry_method:method} to "
                "enter"
            ),
            "let's give away the {prize} to {winners} people",
            "create a lottery: {prize}, {winners} winners, {duration_minutes:min} until the draw",
            'type "{keyword}" in the chat for a chance at the {prize}, {winners} winners',
        ],
    ),
}

# Requests that miss a required argument or only point at a product, and the question back.
_CLARIFY: tuple[list[tuple[str, str]], list[tuple[str, str]]] = (
    [
        ("发个优惠券", "好的，这次优惠券面额是多少？要设置满多少可用吗？准备发多少张？"),
        ("来一波优惠券", "好的，这次优惠券面额是多少？要设置满多少可用吗？准备发多少张？"),
        ("给大家发{quantity}张券", "好的，每张券减多少钱？需要设置使用门槛吗？"),
        ("发点无门槛券吧", "好的，无门槛券的面额是多少？发多少张？"),
        ("把{product_name}上架", "好的，{product_name}上架价格定多少？"),
        ("{product_name}上车", "好的，{product_name}卖多少钱？"),
        ("上个新品", "要上架哪件商品？价格是多少？"),
        ("这个还有货吗", "请问要查哪件商品的库存？"),
        ("那个还剩多少", "请问要查哪件商品的库存？"),
        ("{product_name}开个秒杀", "好的，{product_name}的秒杀价定多少？持续多长时间？"),
        ("{product_name}秒杀价{price:money}", "这场秒杀持续多久？比如10分钟还是半小时？"),
        ("开个秒杀", "要秒杀哪件商品？秒杀价多少、持续多久？"),
        ("来个抽奖", "好的，这次抽奖的奖品是什么？抽几位中奖？"),
        ("抽{prize}", "抽几位中奖呢？"),
        ("把那条评论置顶", "要置顶哪条评论？请把评论内容发给我。"),
        ("置顶一下", "要置顶什么内容？请把原文发给我。"),
        ("把那个下架", "要下架哪件商品？"),
        ("刚才那个链接撤了", "要下架哪件商品？请告诉我商品名。"),
        ("回复一下那个观众的问题", "观众问的是哪方面？发货、退换、尺码、正品、付款还是保修？"),
    ],
    [
        (
            "send out some coupons",
            (
                "Sure. How much should each coupon be worth, is there a minimum spend, and how "
                "many should I issue?"
            ),
        ),
        ("coupon time", "Sure. What amount, what minimum spend (if any), and how many coupons?"),
        (
            "drop {quantity} coupons",
            "How much should each coupon take off, and is there a minimum spend?",
        ),
        ("list the {product_name}", "What price should the {product_name} be listed at?"),
        ("put up the new product", "Which product should I list, and at what price?"),
        ("is this one still in stock", "Which product should I check the stock for?"),
        ("how many are left", "Which product should I check the stock for?"),
        (
            "flash sale on the {product_name}",
            "What flash-sale price should the {product_name} have, and how long should it run?",
        ),
        (
            "{product_name} flash sale at {price:money}",
            "How long should the flash sale run, e.g. 10 minutes or half an hour?",
        ),
        ("let's do a giveaway", "What's the prize, and how many winners?"),
        ("giveaway for the {prize}", "How many winners should there be?"),
        ("pin that comment", "Which comment should I pin? Please send me its text."),
        ("take that one down", "Which product should I take down?"),
        (
            "answer that viewer's question",
            (
                "What is the viewer asking about: shipping, returns, sizing, authenticity, payment "
                "or warranty?"
            ),
        ),
    ],
)

_QA: tuple[list[tuple[list[str], str]], list[tuple[list[str], str]]] = (
    [
        (
            ["你能做什么", "你都会哪些功能", "介绍一下你自己"],
            "我是淘宝直播助手，可以帮你上架和下架商品、发优惠券、查库存、置顶评论、回复观众的常见问题、开秒杀和设置抽奖。直接告诉我要做什么就行。",
        ),
        (
            ["直播开场白怎么说比较好", "开场说什么能留住人"],
            "开场先打招呼、报今天的福利和时间点，比如：“欢迎来到直播间！今晚8点抽免单，9点秒杀，点个关注不迷路。”三句话内讲清楚看下去的理由。",
        ),
        (
            ["怎么提高直播间停留时长", "观众老是进来就走怎么办"],
            "每10到15分钟设置一个钩子：福袋倒计时、限时秒杀、抽奖预告；多和弹幕互动，点名回答问题，让新进来的人马上知道接下来有什么福利。",
        ),
        (
            ["一场直播播多久合适", "直播时长多长比较好"],
            "新号建议每场2到4小时，固定时间开播，方便粉丝养成习惯；数据稳定后再按在线人数曲线调整。",
        ),
        (
            ["优惠券和秒杀有什么区别", "什么时候用券什么时候用秒杀"],
            "优惠券适合拉高客单价和复购，门槛可以引导凑单；秒杀用极低价短时间制造紧迫感，适合拉人气和冲销量。",
        ),
        (
            ["抽奖多久开一次比较好", "福袋多长时间发一次"],
            "一般每15到30分钟一次，整点或人少的时候开，能拉回在线人数；奖品不用太贵，但要频率稳定。",
        ),
        (
            ["观众说太贵了怎么回", "有人嫌贵怎么接话"],
            "先认同再讲价值：“理解宝宝的顾虑，这款用的是……，今天直播间还有券，算下来比平时划算很多。”别和观众争论。",
        ),
        (
            ["直播间冷场了怎么办", "没人说话怎么办"],
            "抛一个简单问题让大家扣1或扣2，或者马上开个小福袋，边讲产品边点名回复弹幕，把气氛带起来。",
        ),
        (
            ["新主播要注意什么", "第一次直播有什么建议"],
            "提前试播检查灯光和声音，准备好产品卖点和价格表，固定开播时间；不说“最”“第一”这类绝对化用语。",
        ),
        (
            ["几点开播人比较多", "什么时间段直播流量好"],
            "晚上7点到11点是流量高峰，午休12点到2点也不错；具体看你粉丝的活跃时段。",
        ),
        (
            ["写一句欢迎新粉丝的话", "来句欢迎新人的话术"],
            "欢迎新进直播间的宝宝们！点点关注不迷路，今晚福利多多，千万别走开～",
        ),
        (
            ["帮我想一句催单的话术", "来句逼单的话"],
            "库存不多了，喜欢的宝宝抓紧拍，拍完就恢复原价啦！",
        ),
        (
            ["直播能说最便宜吗", "可以说全网最低价吗"],
            "不建议。《广告法》禁止“最”“第一”等绝对化用语，可以说“直播间专属价”“今天力度很大”。",
        ),
        (["谢谢", "辛苦了", "好的谢谢"], "不客气，有需要随时叫我！"),
        (
            ["你好", "在吗", "哈喽"],
            "你好！我是直播助手，需要上架商品、发券或者开抽奖都可以直接告诉我。",
        ),
    ],
    [
        (
            ["what can you do", "what are you able to help with", "introduce yourself"],
            (
                "I'm your live-stream shop assistant. I can list and remove products, issue "
                "coupons, check stock, pin comments, answer viewers' common questions, start flash "
                "sales and set up giveaways. Just tell me what to do."
            ),
        ),
        (
            ["how should I open the stream", "any tips for an opening line"],
            (
                "Greet viewers, then say what's coming and when: \"Welcome! Giveaway at 8, flash "
                "sale at 9, follow so you don't miss it.\" Give people a reason to stay within "
                "three sentences."
            ),
        ),
        (
            ["how do I keep viewers from leaving", "people leave right away, what should I do"],
            (
                "Add a hook every 10-15 minutes: a giveaway countdown, a flash sale or a teaser. "
                "Reply to comments by name so newcomers see something is happening."
            ),
        ),
        (
            ["how long should a stream be", "what's a good stream length"],
            (
                "For a new account, 2-4 hours per stream at a fixed time so followers build a "
                "habit; adjust once you see your audience curve."
            ),
        ),
        (
            [
                "what's the difference between a coupon and a flash sale",
                "when should I use coupons vs flash sales",
            ],
            (
                "Coupons raise basket size and bring people back; a flash sale uses a very low "
                "price for a short time to create urgency and pull viewers in."
            ),
        ),
        (
            ["how often should I run giveaways", "how frequent should the lucky bags be"],
            (
                "Usually every 15-30 minutes, on the hour or when viewers drop. Prizes can be "
                "small; a steady rhythm matters more."
            ),
        ),
        (
            [
                "a viewer says it's too expensive, how do I respond",
                "how do I handle price complaints",
            ],
            (
                "Agree first, then show the value: \"I get it. This one uses ..., and with today's "
                "coupon it's much cheaper than usual.\" Never argue with the viewer."
            ),
        ),
        (
            ["the chat went quiet, what now", "nobody is commenting, help"],
            (
                "Ask a simple question people answer with 1 or 2, or open a small giveaway, and "
                "call out commenters by name."
            ),
        ),
        (
            ["any advice for my first stream", "what should a new host watch out for"],
            (
                "Test light and sound beforehand, prepare selling points and a price sheet, stream "
                'at a fixed time, and avoid absolute claims like "the cheapest".'
            ),
        ),
        (
            ["write a line to welcome new followers", "give me a welcome line for newcomers"],
            (
                "Welcome to everyone who just joined! Hit follow so you don't miss tonight's deals "
                "- lots of giveaways coming up!"
            ),
        ),
        (
            ["can I say we're the cheapest online", "is it ok to claim lowest price"],
            (
                'Better not: China\'s Advertising Law bans absolute claims like "cheapest" or '
                '"number one". Say "live-room exclusive price" instead.'
            ),
        ),
        (["thanks", "thank you", "great, thanks"], "You're welcome - call me any time!"),
        (
            ["hi", "hello", "are you there"],
            (
                "Hi! I'm your stream assistant. Tell me if you want to list a product, issue "
                "coupons or start a giveaway."
            ),
        ),
    ],
)

_PREFIXES = (
    ["", "", "", "", "小助手，", "助手，", "那个，", "好，", "来，", "家人们稍等，"],
    ["", "", "", "", "hey, ", "okay, ", "assistant, ", "quick one: ", "alright, "],
)
_SUFFIXES = (
    ["", "", "", "，谢谢", "，快点", "哈", "，辛苦了", "！", "。", "~"],
    ["", "", "", " please", ", thanks", " asap", "!", ".", ", thank you"],
)

_ZH_DIGITS = "零一二三四五六七八九"
_EN_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()


def zh_numeral(n: int) -> str:
    """Spoken Chinese for 0 ≤ n < 100000: 300 → 三百, 105 → 一百零五, 15 → 十五, 2000 → 两千."""
    if not 0 <= n < 100000:
        raise ValueError(f"zh_numeral covers 0..99999, got {n}")
    if n == 0:
        return "零"
    out: list[str] = []
    gap = False
    for place, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // place % 10
        if d == 0:
            gap = gap or bool(out)
            continue
        if gap:
            out.append("零")
            gap = False
        if not out and d == 2 and place >= 100:
            out.append("两" + unit)
        elif not out and d == 1 and place == 10:
            out.append(unit)
        else:
            out.append(_ZH_DIGITS[d] + unit)
    return "".join(out)


def _plain(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _number(v: int, lang: int, rng: random.Random) -> str:
    if lang == _ZH:
        if v == 2 and rng.random() < 0.5:
            return "两"
        return zh_numeral(v) if rng.random() < 0.4 else str(v)
    return _EN_WORDS[v] if v <= 20 and rng.random() < 0.3 else str(v)


def _money(v: float, lang: int, rng: random.Random) -> str:
    s = _plain(v)
    if lang == _EN:
        return rng.choice([f"{s} yuan", f"¥{s}", f"RMB {s}", f"{s} RMB"])
    if float(v).is_integer():
        zh = zh_numeral(int(v))
        return rng.choice([f"{s}元", f"{s}块", f"¥{s}", f"{zh}块", f"{zh}元", f"{s}块钱"])
    yuan, jiao = s.split(".")
    return rng.choice(
        [f"{s}元", f"{yuan}块{jiao}", f"{zh_numeral(int(yuan))}块{_ZH_DIGITS[int(jiao)]}"]
    )


def _minutes(m: int, lang: int, rng: random.Random, *, adjective: bool = False) -> str:
    if lang == _ZH:
        forms = [f"{m}分钟", f"{zh_numeral(m)}分钟"]
        forms += {30: ["半小时", "半个小时"], 60: ["一小时", "一个小时", "1小时"],
                  90: ["一个半小时"], 120: ["两小时", "两个小时", "2小时"]}.get(m, [])  # fmt: skip
    elif adjective:
        forms = [f"{m}-minute"]
        forms += {30: ["half-hour"], 60: ["one-hour"], 120: ["two-hour"]}.get(m, [])
    else:
        forms = [f"{m} minutes", f"{m} mins"]
        forms += {30: ["half an hour"], 60: ["an hour", "one hour"],
                  90: ["an hour and a half"], 120: ["two hours", "2 hours"]}.get(m, [])  # fmt: skip
        if m <= 20:
            forms.append(f"{_EN_WORDS[m]} minutes")
    return rng.choice(forms)


def _render(value: Any, style: str, lang: int, rng: random.Random) -> str:
    if style == "money":
        return _money(value, lang, rng)
    if style in ("min", "minadj"):
        return _minutes(value, lang, rng, adjective=style == "minadj")
    if style == "none":
        return rng.choice([["无门槛"], ["no-minimum", "no-threshold"]][lang])
    if style == "method":
        return rng.choice(_METHOD_WORDS[value][lang])
    if style == "faq":
        return rng.choice(_FAQ_PHRASES[value][lang])
    if style == "d" or isinstance(value, str):
        return _plain(value) if not isinstance(value, str) else value
    return _number(value, lang, rng)


def _fields(template: str) -> list[tuple[str, str]]:
    return [(f, spec or "") for _, f, spec, _ in string.Formatter().parse(template) if f]


def _fill(template: str, values: dict, lang: int, rng: random.Random) -> str:
    parts = []
    for literal, field, spec, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field:
            parts.append(_render(values[field], spec or "", lang, rng))
    return "".join(parts)


def _flash_price(price: float, rng: random.Random) -> float | int:
    base = max(1, int(price * rng.choice([0.5, 0.6, 0.7])))
    return round(base - 0.1, 1) if base > 5 and rng.random() < 0.4 else base


def _values(tool: str, lang: int, rng: random.Random) -> dict:
    """Every argument a template of `tool` might mention; the template picks which are said."""
    zh, en, category, price = rng.choice(_CATALOGUE)
    values: dict[str, Any] = {"product_name": (zh, en)[lang]}
    if tool == "list_product":
        values |= {
            "price": rng.choice([price, price, int(price * 0.9) or price]),
            "stock": rng.choice([20, 50, 88, 100, 200, 300, 500, 1000]),
            "link_number": rng.randint(1, 30),
        }
    elif tool == "issue_coupon":
        amount = rng.choice([5, 10, 15, 20, 30, 50, 100])
        values |= {
            "amount": amount,
            "threshold": rng.choice(
                [t for t in (49, 99, 100, 199, 200, 299, 300, 500, 1000) if t > 2 * amount]
            ),
            "quantity": rng.choice([10, 20, 50, 100, 200, 500, 1000]),
            "valid_minutes": rng.choice([10, 15, 30, 60, 120]),
        }
    elif tool == "check_stock":
        values["variant"] = rng.choice(_VARIANTS[category][lang])
    elif tool == "pin_comment":
        values |= {
            "content": rng.choice(_PIN_CONTENT[lang]),
            "duration_minutes": rng.choice([5, 10, 15, 30, 60]),
        }
    elif tool == "answer_faq":
        topic = rng.choice(FAQ_TOPICS)
        if topic == "size":
            zh, en, *_ = rng.choice([p for p in _CATALOGUE if p[2] == "clothing"])
            values["product_name"] = (zh, en)[lang]
        values |= {"topic": topic, "viewer": rng.choice(_VIEWERS[lang])}
    elif tool == "start_flash_sale":
        values |= {
            "price": _flash_price(price, rng),
            "duration_minutes": rng.choice([5, 10, 15, 20, 30, 60, 90]),
            "quantity": rng.choice([10, 20, 50, 100, 200]),
        }
    elif tool == "set_lottery":
        prizes = _PRIZES[lang] + [values["product_name"]]
        values |= {
            "prize": rng.choice(prizes),
            "winners": rng.choice([[1, 2, 3, 5, 8, 10, 20], [2, 3, 5, 8, 10, 20]][lang]),
            "entry_method": rng.choice(ENTRY_METHODS),
            "keyword": rng.choice(_KEYWORDS[lang]),
            "duration_minutes": rng.choice([3, 5, 10, 15]),
        }
    return values


def _decorate(
    text: str, lang: int, rng: random.Random, *, free_start: bool = False, free_end: bool = False
) -> str:
    # A prefix or suffix next to free text (a comment to pin) would blur where the value ends.
    prefix = "" if free_start else rng.choice(_PREFIXES[lang])
    suffix = "" if free_end else rng.choice(_SUFFIXES[lang])
    text = prefix + text + suffix
    return text[0].upper() + text[1:] if lang == _EN else text


def _tool_row(tool: str, lang: int, rng: random.Random) -> dict:
    template = rng.choice(_TEMPLATES[tool][lang])
    values = _values(tool, lang, rng)
    fields = _fields(template)
    arguments: dict[str, Any] = {}
    for key, style in fields:
        arguments[key] = 0 if style == "none" else values[key]
    if "keyword" in arguments:
        arguments["entry_method"] = "comment"
    order = list(_SCHEMAS[tool]["properties"])
    arguments = dict(sorted(arguments.items(), key=lambda kv: order.index(kv[0])))
    text = _decorate(
        _fill(template, values, lang, rng),
        lang,
        rng,
        free_start=template.startswith("{content}"),
        free_end=template.endswith("{content}"),
    )
    call = {
        "id": f"call_{rng.getrandbits(96):024x}",
        "type": "function",
        "function": {"name": tool, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }
    return _row(text, {"role": "assistant", "content": None, "tool_calls": [call]})


def _clarify_row(lang: int, rng: random.Random) -> dict:
    request, answer = rng.choice(_CLARIFY[lang])
    values: dict[str, Any] = {}
    for tool in ("issue_coupon", "set_lottery", "start_flash_sale"):
        values |= _values(tool, lang, rng)
    text = _decorate(_fill(request, values, lang, rng), lang, rng)
    return _row(text, {"role": "assistant", "content": answer.format(**values)})


def _qa_row(lang: int, rng: random.Random) -> dict:
    questions, answer = rng.choice(_QA[lang])
    text = _decorate(rng.choice(questions), lang, rng)
    return _row(text, {"role": "assistant", "content": answer})


def _row(user: str, assistant: dict) -> dict:
    return {"messages": [{"role": "user", "content": user}, assistant]}


_SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
_TRIES = 30


def generate(*, seed: int = 0, n: int = 1000) -> list[dict]:
    """`n` rows: 80% tool calls (tools in turn), 10% plain answers, 10% clarifying questions;
    60% Chinese, 40% English. The same seed gives the same rows."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    rng = random.Random(seed)
    n_qa, n_clarify = round(n * 0.1), round(n * 0.1)
    n_tool = n - n_qa - n_clarify
    tool_names = list(_TEMPLATES)
    kinds = [tool_names[i % len(tool_names)] for i in range(n_tool)]
    kinds += ["qa"] * n_qa + ["clarify"] * n_clarify
    langs = [_ZH] * round(n * 0.6) + [_EN] * (n - round(n * 0.6))
    rng.shuffle(kinds)
    rng.shuffle(langs)
    seen: set[str] = set()
    rows = []
    for kind, lang in zip(kinds, langs, strict=True):
        # Redraw a request already produced; the small fixed Q&A pool can still repeat.
        for _ in range(_TRIES):
            if kind == "qa":
                row = _qa_row(lang, rng)
            elif kind == "clarify":
                row = _clarify_row(lang, rng)
            else:
                row = _tool_row(kind, lang, rng)
            if row["messages"][0]["content"] not in seen:
                break
        seen.add(row["messages"][0]["content"])
        rows.append(row)
    return rows


def write_jsonl(path: str | Path, *, seed: int = 0, n: int = 1000) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        for row in generate(seed=seed, n=n):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
