"""Scanned pages made for the OCR tests: a red-header notice typeset in a CJK font, a red seal over
its date, speckle and a slight skew, saved as image-only PDFs and photos."""

from __future__ import annotations

import math
import random
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# A4 at 150 dpi.
PAGE = (1240, 1754)
MARGIN_X, MARGIN_TOP = 160, 190
CHARS_PER_LINE = 28
RED = (200, 20, 20)

ISSUER = "中共xx市委巡察工作领导小组办公室"
NUMBER = "x巡办发〔2023〕5号"
TITLE = "关于深化交叉巡察工作的通知"
ADDRESSEES = "各区县党委，市直各单位党组（党委）："
# Paragraphs of the body as they are to be read back; headings stand alone.
BODY = [
    "为推动巡察工作高质量发展，破解熟人社会监督难题，经市委巡察工作领导小组同意，现就深化交叉巡察工作通知如下。",
    "一、总体要求",
    "坚持“推磨式”交叉巡察，由市委巡察办统筹调配xx个区县的巡察力量，每轮抽调xx名干部组成巡察组，实行异地交叉、回避任职地。",
    "二、方法步骤",
    "巡察组进驻前开展政治画像，进驻后综合运用个别谈话、查阅资料、下沉了解等方式发现问题线索，巡察结束后x个工作日内向被巡察党组织反馈意见。",
    "三、工作要求",
    "各区县党委要把交叉巡察发现问题的整改纳入年度考核，整改率达到xx%以上，做好巡察后半篇文章。",
    "四、组织保障",
    "市委巡察办建立巡察干部人才库，入库干部xxx名，实行以干代训，每年举办巡察业务培训班x期。各区县要保障巡察组工作经费，为交叉巡察提供必要的工作条件。",
    "五、巡审联动",
    "推行巡审联动，审计机关提前介入巡察，对被巡察单位近三年财务收支情况开展专项审计，审计发现的问题线索一并移交巡察组。",
]
SIGNER = "中共xx市委巡察工作领导小组办公室"
DATE = "2023年6月15日"
NOTE = "（此件公开发布）"


def cjk_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto CJK from Debian's fonts-noto-cjk (scripts/test.sh installs it)."""
    name = "Noto Serif CJK SC:style=Bold" if bold else "Noto Serif CJK SC"
    found = subprocess.run(["fc-match", "-f", "%{file}|%{index}", name], capture_output=True, text=True).stdout
    path, _, index = found.partition("|")
    if "CJK" not in path:
        pytest.fail("the OCR tests typeset Chinese with Noto CJK: apt-get install fonts-noto-cjk")
    return ImageFont.truetype(path, size, index=int(index or 0))


def wrap(text: str, width: int = CHARS_PER_LINE) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def notice_pages(seed: int = 7) -> list[Image.Image]:
    """The notice on two pages, as a scanner gives them (grey paper noise, a 0.4° skew)."""
    body_font, title_font, issuer_font = cjk_font(34), cjk_font(50, bold=True), cjk_font(58, bold=True)
    pages = [Image.new("RGB", PAGE, "white") for _ in range(2)]
    draw = ImageDraw.Draw(pages[0])
    y = MARGIN_TOP
    _centred(draw, ISSUER, y, issuer_font, RED)
    y += 110
    _centred(draw, NUMBER, y, body_font, "black")
    y += 60
    draw.line([(MARGIN_X, y), (PAGE[0] - MARGIN_X, y)], fill=RED, width=4)
    y += 60
    _centred(draw, TITLE, y, title_font, "black")
    y += 110
    draw.text((MARGIN_X, y), ADDRESSEES, font=body_font, fill="black")
    y += 56
    page, line_height = 0, 56
    for paragraph in BODY:
        heading = len(paragraph) < 10
        lines = [paragraph] if heading else wrap("　　" + paragraph)
        for line in lines:
            if y > PAGE[1] - 260:
                _page_number(draw, page + 1, body_font)
                page, y = page + 1, MARGIN_TOP
                draw = ImageDraw.Draw(pages[page])
            x = MARGIN_X + (68 if heading else 0)
            draw.text((x, y), line, font=body_font, fill="black")
            y += line_height
    y += 80
    draw.text((PAGE[0] - MARGIN_X - 34 * len(SIGNER) + 40, y), SIGNER, font=body_font, fill="black")
    draw.text((PAGE[0] - MARGIN_X - 34 * 9, y + 56), DATE, font=body_font, fill="black")
    _seal(pages[page], (PAGE[0] - MARGIN_X - 260, y - 40))
    draw.text((MARGIN_X + 68, y + 140), NOTE, font=body_font, fill="black")
    _page_number(draw, page + 1, body_font)
    return [_scanned(p, random.Random(seed + n)) for n, p in enumerate(pages[: page + 1])]


def body_text() -> str:
    """Everything a reader should find in the body (all but the title), in order, without spaces."""
    return "".join([ISSUER, NUMBER, ADDRESSEES, *BODY, SIGNER, DATE, NOTE])


def save_pdf(pages: list[Image.Image], path: Path) -> Path:
    """An image-only PDF, as a scanner writes it (JPEG pages, no text layer)."""
    pages[0].save(path, "PDF", resolution=150, save_all=True, append_images=pages[1:], quality=85)
    return path


def _centred(draw: ImageDraw.ImageDraw, text: str, y: int, font, fill) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((PAGE[0] - width) / 2, y), text, font=font, fill=fill)


def _page_number(draw: ImageDraw.ImageDraw, number: int, font) -> None:
    _centred(draw, f"- {number} -", PAGE[1] - 150, font, "black")


def _seal(page: Image.Image, corner: tuple[int, int]) -> None:
    """A round red seal, half transparent, over the signing body and the date."""
    seal = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    draw = ImageDraw.Draw(seal)
    draw.ellipse([8, 8, 292, 292], outline=RED + (150,), width=10)
    star = [(150 + r * math.cos(math.radians(90 + 36 * k)), 150 - r * math.sin(math.radians(90 + 36 * k)))
            for k, r in enumerate([45, 18] * 5)]
    draw.polygon(star, fill=RED + (150,))
    page.paste(seal, corner, seal)


def _scanned(page: Image.Image, rng: random.Random) -> Image.Image:
    page = page.rotate(0.4, resample=Image.BICUBIC, fillcolor="white", expand=False)
    noise = Image.effect_noise(page.size, 18).convert("RGB")
    page = Image.blend(page, noise, 0.08)
    pixels = page.load()
    for _ in range(400):
        x, y = rng.randrange(page.width), rng.randrange(page.height)
        pixels[x, y] = (90, 90, 90)
    return page.filter(ImageFilter.GaussianBlur(0.6))
