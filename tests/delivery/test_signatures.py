"""Signatures are rebuilt from drawing elements only: whatever a client sends, what is
stored and shown carries no script, link or external reference."""
import pytest
from sqlalchemy import select

from app.delivery import services as delivery
from app.delivery.models import ProofOfDelivery
from app.delivery.signatures import SignatureError, clean_signature
from app.simulation import SIGNATURE
from tests.delivery.test_attempts import out_for_delivery, proof

PAD = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 320 160" '
       'width="320" height="160"><path d="M 10 10 C 20 20 30 20 40 10" fill="rgb(0, 0, 0)"/>'
       '<circle r="1.5" cx="50" cy="50" fill="rgb(0, 0, 0)"/></svg>')


def test_a_pads_drawing_is_kept_as_drawn():
    kept = clean_signature(PAD)
    assert 'd="M 10 10 C 20 20 30 20 40 10"' in kept and "<circle" in kept and 'viewBox="0 0 320 160"' in kept


@pytest.mark.parametrize("attack", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>',
    '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
    "M10 10 L40 30",  # a bare path is not a drawing
    '<html><body>hi</body></html>',
])
def test_anything_but_a_drawing_is_refused(attack):
    with pytest.raises(SignatureError):
        clean_signature(attack)


def test_handlers_styles_and_references_are_dropped():
    kept = clean_signature('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                           '<path d="M1 1" style="fill:url(https://x)" fill="url(#g)" stroke="black" onclick="x()"/></svg>')
    assert "onload" not in kept and "onclick" not in kept and "style" not in kept and "url" not in kept
    assert 'stroke="black"' in kept and 'd="M1 1"' in kept


def test_the_service_stores_the_clean_drawing_and_refuses_a_bad_one(session, partner):
    ids = out_for_delivery(session, partner, 2)
    bad = delivery.record_attempts(session, [delivery.AttemptIn(ids[0], proof=proof(
        signature_svg='<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'))], driver_id=None, actor="d")
    assert isinstance(bad[0], delivery.DeliveryError) and "<script> is not allowed" in str(bad[0])
    delivery.deliver(session, ids[1], proof(signature_svg=SIGNATURE), driver_id=None, actor="d")
    session.commit()
    stored = session.scalars(select(ProofOfDelivery.signature_svg)).one()
    assert stored.startswith("<svg") and "<path" in stored
