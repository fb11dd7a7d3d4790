//! Every word the pages say, in English and Russian. `{m}` is the messenger's name.

use super::Lang;

pub(super) struct Words {
    pub continue_in: &'static str,
    pub open_in: &'static str,
    pub viber_next: &'static str,
    pub whatsapp_next: &'static str,
    pub whatsapp_code: &'static str,
    pub instagram_next: &'static str,
    pub other_next: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub copy_failed: &'static str,
    pub qr_heading: &'static str,
    pub qr_hint: &'static str,
    pub qr_label: &'static str,
    pub unknown: (&'static str, &'static str),
    pub expired: (&'static str, &'static str),
    pub used: (&'static str, &'static str),
    pub unavailable: (&'static str, &'static str),
}

static EN: Words = Words {
    continue_in: "Continue in {m}",
    open_in: "Open in {m}",
    viber_next: "Tap the button: the chat opens in Viber and the conversation continues there.",
    whatsapp_next: "Tap the button. WhatsApp opens with a message already typed: \
                    send it unchanged.",
    whatsapp_code: "The message is your code. If it is missing, send this code:",
    instagram_next: "Open Instagram and send this code in the chat, unchanged:",
    other_next: "Tap the button to open the chat in {m}.",
    copy: "Copy code",
    copied: "Copied",
    copy_failed: "The code is selected: copy it",
    qr_heading: "On a computer?",
    qr_hint: "Scan the QR code with your phone's camera to continue on your phone.",
    qr_label: "QR code to open this link on a phone",
    unknown: (
        "We don't know this link",
        "Check that the whole link was copied, or ask the bot for a new one.",
    ),
    expired: (
        "This link has expired",
        "Ask the bot for a new one in the messenger you use.",
    ),
    used: (
        "This link has already been used",
        "If it was you, just open the messenger: the conversation continues there. \
         Otherwise, ask the bot for a new link.",
    ),
    unavailable: (
        "This link cannot be opened right now",
        "Try again in a minute: the link still works.",
    ),
};

static RU: Words = Words {
    continue_in: "Продолжите в {m}",
    open_in: "Открыть в {m}",
    viber_next: "Нажмите кнопку: в Viber откроется чат, и разговор продолжится там.",
    whatsapp_next: "Нажмите кнопку. WhatsApp откроется с уже набранным сообщением — \
                    отправьте его без изменений.",
    whatsapp_code: "Это сообщение — ваш код. Если его нет, отправьте этот код:",
    instagram_next: "Откройте Instagram и отправьте в чат этот код без изменений:",
    other_next: "Нажмите кнопку, чтобы открыть чат в {m}.",
    copy: "Скопировать код",
    copied: "Скопировано",
    copy_failed: "Код выделен — скопируйте его",
    qr_heading: "Вы за компьютером?",
    qr_hint: "Наведите камеру телефона на QR-код, чтобы продолжить на телефоне.",
    qr_label: "QR-код, чтобы открыть эту ссылку на телефоне",
    unknown: (
        "Мы не знаем такой ссылки",
        "Проверьте, что ссылка скопирована целиком, или попросите у бота новую.",
    ),
    expired: (
        "Срок действия ссылки истёк",
        "Попросите у бота новую ссылку в том мессенджере, которым вы пользуетесь.",
    ),
    used: (
        "Эта ссылка уже использована",
        "Если это были вы, просто откройте мессенджер — разговор продолжится там. \
         Если нет, попросите у бота новую ссылку.",
    ),
    unavailable: (
        "Сейчас ссылку не открыть",
        "Попробуйте через минуту: ссылка по-прежнему действует.",
    ),
};

pub(super) fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}
